import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from '../../lab/paths';
import type { AcrGround } from '../../lab/acr/ground';
import { startAcrGround } from '../../lab/acr/ground';
import type { TestGround } from '../../lab/ground';
import { testGround } from '../../lab/ground';
import { inspectRawAsync, pushAsync, sha256Hex } from '../../lab/images';
import { field } from '../../lab/field';

// The ACR test front against recorded Azure Container Registry traffic (test/fixtures/acr-wire): the
// same requests get answers of the same shape, the same codes and, for the lock attributes that
// DigestLock and DigestRetain rely on, the same behaviour. Real ACR's names and values (host,
// repository, digests, times) differ; the structure, the status codes and the error bodies must not.

interface Entry {
  readonly RequestUri: string;
  readonly RequestMethod: string;
  readonly RequestBody: unknown;
  readonly StatusCode: number;
  readonly ResponseHeaders: Record<string, string>;
  readonly ResponseBody: unknown;
}

function recording(name: string): Entry[] {
  const doc = JSON.parse(readFileSync(join(ROOT, 'test', 'fixtures', 'acr-wire', name), 'utf8')) as {
    Entries: Entry[];
  };
  return doc.Entries.filter((e) => /\/acr\/v1\/|\/v2\//.test(e.RequestUri));
}

const header = (entry: Entry, name: string): string | undefined =>
  Object.entries(entry.ResponseHeaders).find(([key]) => key.toLowerCase() === name)?.[1];

/** The keys of an object, sorted: the shape of an answer without its values. */
function keys(value: unknown): string[] {
  return typeof value === 'object' && value !== null ? Object.keys(value).sort() : [];
}

/** A recorded body with the recorded repository and host written as ours. */
function ours(body: unknown, names: Record<string, string>): unknown {
  let text = JSON.stringify(body);
  for (const [from, to] of Object.entries(names)) text = text.split(from).join(to);
  return JSON.parse(text);
}

describe('the ACR test front answers as the recorded Azure Container Registry does', function () {
  this.timeout(120_000);
  let g: TestGround;
  let acr: AcrGround;
  const repo = 'library/hello-world';
  let image: string;
  let untagged: string;

  before(async () => {
    g = await testGround();
    acr = await startAcrGround(join(g.dir, 'acr-wire'), g.certs);
    await pushAsync(g.layout, 'amd64', `${acr.front.host}/${repo}:test1`, acr.access);
    await pushAsync(g.layout, 'arm64', `${acr.front.host}/${repo}:moved`, acr.access);
    untagged = sha256Hex(await inspectRawAsync(`${acr.front.host}/${repo}:moved`, acr.access));
    // The tag moves on: the arm64 manifest stays in the repository, untagged.
    await pushAsync(g.layout, 'amd64', `${acr.front.host}/${repo}:moved`, acr.access);
    image = sha256Hex(await inspectRawAsync(`${acr.front.host}/${repo}:test1`, acr.access));
  });
  after(async () => {
    await acr.front.close();
    acr.registry.stop();
  });

  const url = (path: string): string => `https://${acr.front.host}${path}`;
  async function call(
    method: string,
    path: string,
    token?: string,
    body?: unknown,
  ): Promise<{ status: number; headers: Headers; json: unknown }> {
    const response = await fetch(url(path), {
      method,
      headers: {
        ...(token ? { Authorization: `Bearer ${token}` } : {}),
        ...(body !== undefined ? { 'Content-Type': 'application/json' } : {}),
      },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
    const text = await response.text();
    let json: unknown = text;
    try {
      json = JSON.parse(text);
    } catch {
      // a plain-text answer stays text
    }
    return { status: response.status, headers: response.headers, json };
  }
  async function tokenFor(scope: string): Promise<string> {
    const [user, password] = acr.access.creds.split(/:(.*)/) as [string, string];
    const response = await fetch(url(`/oauth2/token?service=${acr.front.host}&scope=${encodeURIComponent(scope)}`), {
      headers: { Authorization: `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}` },
    });
    return field(await response.json(), 'access_token') as string;
  }

  it('manifest properties (js-sets_manifest_properties): the metadata_read challenge, insufficient_scope for a PATCH, PATCH answered with the whole object, lastUpdateTime kept', async () => {
    const entries = recording('js-sets_manifest_properties.json');
    assert.equal(entries.length, 5, 'the recording has five registry entries');
    const names = {
      'myregistry.azurecr.io': acr.front.host,
      'sha256:40d0cfd0861719208ff9f7747ab3f97844eeca509df705db44a736df863b76af': image,
    };
    const path = `/acr/v1/${repo}/_manifests/${image}?api-version=2021-07-01`;
    const [recChallenge, recGet, recRefused, recPatched, recRestored] = entries as [Entry, Entry, Entry, Entry, Entry];

    const first = await call('GET', path);
    assert.equal(first.status, recChallenge.StatusCode);
    assert.equal(first.headers.get('www-authenticate'), ours(header(recChallenge, 'www-authenticate'), names));
    assert.deepEqual(first.json, ours(recChallenge.ResponseBody, names));

    const read = await tokenFor(`repository:${repo}:metadata_read`);
    const before = await call('GET', path, read);
    assert.equal(before.status, recGet.StatusCode);
    assert.deepEqual(keys(before.json), keys(recGet.ResponseBody));
    assert.deepEqual(
      keys(field(before.json, 'manifest')),
      keys(field(recGet.ResponseBody, 'manifest')),
      'a single-platform image: digest, imageSize, times, architecture, os, mediaType, attributes',
    );
    assert.deepEqual(
      keys(field(before.json, 'manifest', 'changeableAttributes')),
      keys(field(recGet.ResponseBody, 'manifest', 'changeableAttributes')),
    );
    assert.equal(field(before.json, 'manifest', 'architecture'), 'amd64');

    const denied = await call('PATCH', path, read, recRefused.RequestBody);
    assert.equal(denied.status, recRefused.StatusCode);
    assert.equal(denied.headers.get('www-authenticate'), ours(header(recRefused, 'www-authenticate'), names));
    assert.deepEqual(denied.json, ours(recRefused.ResponseBody, names));

    const write = await tokenFor(`repository:${repo}:metadata_write`);
    const all = await call('PATCH', path, write, recPatched.RequestBody);
    assert.equal(all.status, recPatched.StatusCode);
    assert.deepEqual(
      field(all.json, 'manifest', 'changeableAttributes'),
      field(recPatched.ResponseBody, 'manifest', 'changeableAttributes'),
    );
    assert.equal(
      field(all.json, 'manifest', 'lastUpdateTime'),
      field(before.json, 'manifest', 'lastUpdateTime'),
      'as recorded, a PATCH of the attributes leaves lastUpdateTime',
    );
    const back = await call('PATCH', path, write, recRestored.RequestBody);
    assert.deepEqual(
      field(back.json, 'manifest', 'changeableAttributes'),
      field(recRestored.ResponseBody, 'manifest', 'changeableAttributes'),
    );

    // A partial body changes what it names and nothing else (the README of acr-wire: "PATCH bodies may be partial").
    const partial = await call('PATCH', path, write, { deleteEnabled: false });
    assert.deepEqual(field(partial.json, 'manifest', 'changeableAttributes'), {
      deleteEnabled: false,
      writeEnabled: true,
      readEnabled: true,
      listEnabled: true,
    });
    await call('PATCH', path, write, { deleteEnabled: true });
  });

  it('deletes (go-TestClient_DeleteManifest_wrongDigest): by tag is UNSUPPORTED as recorded; a manifest with deleteEnabled false is refused with REGISTRY_DISALLOWED_OPERATION until it is true again', async () => {
    const [recChallenge, recRefused] = recording('go-TestClient_DeleteManifest_wrongDigest.json') as [Entry, Entry];
    const names = { 'azacrlivetest.azurecr.io': acr.front.host, 'hello-world': repo };
    const byTag = `/v2/${repo}/manifests/error-digest`;
    const first = await call('DELETE', byTag);
    assert.equal(first.status, recChallenge.StatusCode);
    assert.equal(first.headers.get('www-authenticate'), ours(header(recChallenge, 'www-authenticate'), names));
    const token = await tokenFor(`repository:${repo}:delete`);
    const refused = await call('DELETE', byTag, token);
    assert.equal(refused.status, recRefused.StatusCode);
    assert.deepEqual(refused.json, recRefused.ResponseBody);

    const write = await tokenFor(`repository:${repo}:metadata_write`);
    await call('PATCH', `/acr/v1/${repo}/_manifests/${untagged}?api-version=2021-07-01`, write, {
      deleteEnabled: false,
    });
    const locked = await call('DELETE', `/v2/${repo}/manifests/${untagged}`, token);
    assert.equal(locked.status, 405);
    assert.equal(field(locked.json, 'errors', 0, 'code'), 'REGISTRY_DISALLOWED_OPERATION');
    assert.ok(acr.front.manifestAttributes(repo, untagged)?.deleteEnabled === false);
    // Still listed, still there.
    const listing = await call('GET', `/acr/v1/${repo}/_manifests`, await tokenFor(`repository:${repo}:metadata_read`));
    assert.ok(JSON.stringify(listing.json).includes(untagged));
    await call('PATCH', `/acr/v1/${repo}/_manifests/${untagged}?api-version=2021-07-01`, write, {
      deleteEnabled: true,
    });
  });

  it('the manifest listing (js-should_list_registry_manifests): every manifest, tagged or not, ordered by digest, with its attributes; pages linked', async () => {
    const [recChallenge, recListing] = recording('js-should_list_registry_manifests.json') as [Entry, Entry];
    const first = await call('GET', `/acr/v1/${repo}/_manifests`);
    assert.equal(first.status, recChallenge.StatusCode);
    assert.match(first.headers.get('www-authenticate') ?? '', new RegExp(`scope="repository:${repo}:metadata_read"`));
    const token = await tokenFor(`repository:${repo}:metadata_read`);
    const listed = await call('GET', `/acr/v1/${repo}/_manifests`, token);
    assert.equal(listed.status, recListing.StatusCode);
    assert.deepEqual(keys(listed.json), keys(recListing.ResponseBody));
    const manifests = field(listed.json, 'manifests') as unknown[];
    const recorded = field(recListing.ResponseBody, 'manifests') as unknown[];
    const digests = manifests.map((m) => field(m, 'digest') as string);
    assert.deepEqual(digests, [...digests].sort(), 'ordered by digest, as recorded');
    assert.deepEqual(
      (recorded.map((m) => field(m, 'digest')) as string[]).slice(),
      [...(recorded.map((m) => field(m, 'digest')) as string[])].sort(),
      'the recording is ordered by digest',
    );
    const tagged = manifests.find((m) => field(m, 'digest') === image);
    const bare = manifests.find((m) => field(m, 'digest') === untagged);
    assert.ok(tagged && bare, 'the tagged and the untagged manifest are both listed');
    const recordedSingle = recorded.find((m) => field(m, 'architecture') === 'amd64' && field(m, 'os') === 'linux');
    const withoutQuarantine = (attributes: unknown): string[] =>
      keys(attributes).filter((k) => k !== 'quarantineState');
    assert.deepEqual(
      keys(bare).filter((k) => k !== 'tags'),
      keys(recordedSingle),
    );
    assert.deepEqual(field(tagged, 'tags'), ['moved', 'test1']);
    assert.equal(field(bare, 'tags'), undefined, 'an untagged manifest has no tags key, as recorded');
    assert.deepEqual(
      keys(field(bare, 'changeableAttributes')),
      withoutQuarantine(field(recordedSingle, 'changeableAttributes')),
    );

    const page = await call('GET', `/acr/v1/${repo}/_manifests?n=1`, token);
    assert.equal((field(page.json, 'manifests') as unknown[]).length, 1);
    const link = page.headers.get('link') ?? '';
    assert.match(
      link,
      /^<\/acr\/v1\/library\/hello-world\/_manifests\?last=sha256:[a-f0-9]{64}&n=1&orderby=>; rel="next"$/,
    );
    const next = await call('GET', /^<([^>]+)>/.exec(link)![1]!, token);
    assert.equal(field(next.json, 'manifests', 0, 'digest'), digests[1]);
  });
});
