// Build-summary markdown tables, built in one place so every cell is escaped the same way: a `|`
// in a value would end its cell and a line break would end its row.

function cell(value: string): string {
  return value.replace(/\|/g, '\\|').replace(/\r?\n/g, ' ');
}

function row(cells: readonly string[]): string {
  return `| ${cells.map(cell).join(' | ')} |`;
}

/** A table with a header row; every cell is escaped. Ends with a line break. */
export function markdownTable(header: readonly string[], rows: readonly (readonly string[])[]): string {
  return `${row(header)}\n|${header.map(() => '---').join('|')}|\n${rows.map(row).join('\n')}\n`;
}

/** The two-column table of facts a task's summary opens with: a name, then its value. */
export function keyValueTable(rows: readonly (readonly string[])[]): string {
  return `| | |\n|---|---|\n${rows.map(row).join('\n')}\n`;
}

/** A value shown as code; a backquote in it, which would end the code span, becomes a quote. */
export function inlineCode(value: string): string {
  return `\`${value.replace(/`/g, "'")}\``;
}
