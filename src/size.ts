// Sizes as a person reads them in a message: limits in round units, measured sizes with the bytes.

const KIB = 1024;
const MIB = 1024 * 1024;

/** A size: `8 MiB`, `512 KiB`, `52.4 MiB (54956032 bytes)`, `812 bytes`. */
export function sizeText(bytes: number): string {
  for (const [unit, size] of [
    ['MiB', MIB],
    ['KiB', KIB],
  ] as const) {
    if (bytes < size) continue;
    return bytes % size === 0 ? `${bytes / size} ${unit}` : `${(bytes / size).toFixed(1)} ${unit} (${bytes} bytes)`;
  }
  return `${bytes} bytes`;
}
