// One value deep inside parsed JSON, by keys and indexes; undefined when the path is not there.
// Tests read task outputs (evidence, keep lists, registry answers) with it.

export function field(value: unknown, ...keys: (string | number)[]): unknown {
  let current = value;
  for (const key of keys)
    current = typeof current === 'object' && current !== null ? Reflect.get(current, key) : undefined;
  return current;
}
