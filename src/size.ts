// Sizes as a person reads them: in a message, limits in round units and measured sizes with the
// bytes (sizeText); in a summary or log line, one rounded figure (roundedSize).

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

/** A size rounded for a summary: `812 B`, `190.3 MiB`, `1.2 GiB`. */
export function roundedSize(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value.toFixed(1)} ${units[unit]}`;
}
