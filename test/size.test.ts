import assert from 'node:assert/strict';
import { roundedSize, sizeText } from '../src/size';

describe('sizes in messages', () => {
  it('writes limits in round units and measured sizes with their bytes', () => {
    assert.equal(sizeText(8 * 1024 * 1024), '8 MiB');
    assert.equal(sizeText(512 * 1024), '512 KiB');
    assert.equal(sizeText(8 * 1024 * 1024 + 1), '8.0 MiB (8388609 bytes)');
    assert.equal(sizeText(70778880), '67.5 MiB (70778880 bytes)');
    assert.equal(sizeText(2049), '2.0 KiB (2049 bytes)');
    assert.equal(sizeText(812), '812 bytes');
    assert.equal(sizeText(0), '0 bytes');
  });

  it('writes a size for a summary as one rounded figure', () => {
    assert.equal(roundedSize(812), '812 B');
    assert.equal(roundedSize(2049), '2.0 KiB');
    assert.equal(roundedSize(199_500_000), '190.3 MiB');
    assert.equal(roundedSize(1.25 * 1024 ** 3), '1.3 GiB');
    assert.equal(roundedSize(3 * 1024 ** 5), '3072.0 TiB');
  });
});
