import assert from 'node:assert/strict';
import { SETTLE_MAX_MS, SETTLE_MIN_MS, settleDelay } from '../../src/registry/racing-writes';

describe('settle: the wait before reading back a write that may race', () => {
  it('waits three times the check-to-write time, at least SETTLE_MIN_MS and at most SETTLE_MAX_MS', () => {
    assert.equal(settleDelay(0), SETTLE_MIN_MS);
    assert.equal(settleDelay(-5), SETTLE_MIN_MS, 'a clock step back never shortens the wait below the floor');
    assert.equal(settleDelay(40), SETTLE_MIN_MS);
    assert.equal(settleDelay(200), 600);
    assert.equal(settleDelay(60_000), SETTLE_MAX_MS);
  });
});
