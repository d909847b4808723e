import assert from 'node:assert/strict';
import { parseReference } from '../../src/reference/reference';
import { isAllowed, parseRegistryRules } from '../../src/pin/registries';

describe('pin: allowedRegistries', () => {
  const allows = (rules: string[], ref: string) => isAllowed(parseRegistryRules(rules), parseReference(ref));

  it('allows everything when empty', () => assert.equal(allows([], 'nginx'), true));
  it('matches a registry host, case-insensitively', () => {
    assert.equal(allows(['MyAcr.azurecr.io'], 'myacr.azurecr.io/app:1'), true);
    assert.equal(allows(['myacr.azurecr.io'], 'other.azurecr.io/app:1'), false);
  });
  it('matches a repository path at component boundaries', () => {
    assert.equal(allows(['myacr.azurecr.io/team'], 'myacr.azurecr.io/team/app'), true);
    assert.equal(allows(['myacr.azurecr.io/team'], 'myacr.azurecr.io/teamb/app'), false);
  });
  it('knows Docker Hub by its normalised name', () => {
    assert.equal(allows(['docker.io/library'], 'nginx'), true);
    assert.equal(allows(['index.docker.io'], 'bitnami/redis'), true);
    assert.equal(allows(['docker.io/library'], 'bitnami/redis'), false);
  });
  it('matches subdomains with *.', () => {
    assert.equal(allows(['*.azurecr.io'], 'myacr.azurecr.io/app'), true);
    assert.equal(allows(['*.azurecr.io'], 'azurecr.io/app'), false);
  });
  it('refuses a scheme and names the fix', () => {
    assert.throws(
      () => parseRegistryRules(['https://myacr.azurecr.io']),
      /allowedRegistries has the line "https:\/\/myacr.azurecr.io".*myacr.azurecr.io\./,
    );
  });
  it('refuses what is not a host', () => {
    assert.throws(() => parseRegistryRules(['my acr']), /not a registry host/);
  });
});
