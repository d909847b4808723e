// A build summary's markdown as an HTML page, for `npm run summaries` to photograph. The summaries
// (src/tasks/*/summary.ts) write a small part of GitHub-flavoured markdown: headings, paragraphs,
// pipe tables (with `\|` inside cells), `- ` lists, `code` and **bold**. That part is converted
// here; anything else is shown as the plain text it is, escaped, never dropped. Written rather than
// taken from a markdown library: the subset is this small, and a picture of our own output should
// not change because a dependency changed its rendering.

const escapeHtml = (text: string): string =>
  text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

/** `code` and **bold** within one line or cell; everything else escaped. */
export function inline(text: string): string {
  let html = '';
  let rest = text;
  for (;;) {
    const match = /`([^`]*)`|\*\*(.+?)\*\*/.exec(rest);
    if (!match) return html + escapeHtml(rest);
    html += escapeHtml(rest.slice(0, match.index));
    html += match[1] !== undefined ? `<code>${escapeHtml(match[1])}</code>` : `<strong>${inline(match[2]!)}</strong>`;
    rest = rest.slice(match.index + match[0].length);
  }
}

/** The cells of a table row: split at `|` that is not escaped, `\|` made a `|` again. */
export function tableCells(line: string): string[] {
  const body = line.trim().replace(/^\|/, '').replace(/\|$/, '');
  const cells: string[] = [];
  let cell = '';
  for (let i = 0; i < body.length; i++) {
    if (body[i] === '\\' && body[i + 1] === '|') {
      cell += '|';
      i++;
    } else if (body[i] === '|') {
      cells.push(cell.trim());
      cell = '';
    } else {
      cell += body[i];
    }
  }
  cells.push(cell.trim());
  return cells;
}

const isTableRow = (line: string): boolean => line.trim().startsWith('|');
const isSeparator = (line: string): boolean => /^\|?(\s*:?-{3,}:?\s*\|)+\s*(:?-{3,}:?\s*)?$/.test(line.trim());

/** The markdown subset above as HTML (no page around it). */
export function markdownToHtml(markdown: string): string {
  const lines = markdown.replace(/\r\n/g, '\n').split('\n');
  const out: string[] = [];
  let i = 0;
  while (i < lines.length) {
    const line = lines[i]!;
    const heading = /^(#{1,6})\s+(.*)$/.exec(line);
    if (line.trim() === '') {
      i++;
    } else if (heading) {
      const level = heading[1]!.length;
      out.push(`<h${level}>${inline(heading[2]!.trim())}</h${level}>`);
      i++;
    } else if (isTableRow(line) && i + 1 < lines.length && isSeparator(lines[i + 1]!)) {
      const header = tableCells(line);
      i += 2;
      const rows: string[][] = [];
      while (i < lines.length && isTableRow(lines[i]!)) rows.push(tableCells(lines[i++]!));
      // A header of empty cells (the key-value tables) is not shown, as GitHub shows it.
      const head = header.every((cell) => cell === '')
        ? ''
        : `<thead><tr>${header.map((c) => `<th>${inline(c)}</th>`).join('')}</tr></thead>`;
      out.push(
        `<table>${head}<tbody>${rows.map((row) => `<tr>${row.map((c) => `<td>${inline(c)}</td>`).join('')}</tr>`).join('')}</tbody></table>`,
      );
    } else if (/^\s*[-*]\s+/.test(line)) {
      const items: string[] = [];
      while (i < lines.length && /^\s*[-*]\s+/.test(lines[i]!)) items.push(lines[i++]!.replace(/^\s*[-*]\s+/, ''));
      out.push(`<ul>${items.map((item) => `<li>${inline(item)}</li>`).join('')}</ul>`);
    } else {
      const paragraph: string[] = [];
      while (
        i < lines.length &&
        lines[i]!.trim() !== '' &&
        !/^#{1,6}\s/.test(lines[i]!) &&
        !isTableRow(lines[i]!) &&
        !/^\s*[-*]\s+/.test(lines[i]!)
      )
        paragraph.push(lines[i++]!.trim());
      out.push(`<p>${inline(paragraph.join(' '))}</p>`);
    }
  }
  return out.join('\n');
}

const STYLE = `
  * { box-sizing: border-box; }
  html, body { margin: 0; background: #ffffff; }
  body { font-family: "Segoe UI", "DejaVu Sans", "Helvetica Neue", Arial, sans-serif; font-size: 14px; line-height: 1.45; color: #201f1e; }
  main { width: 100%; padding: 16px 20px 20px; }
  .section { border: 1px solid #e1dfdd; border-radius: 4px; }
  .title { padding: 10px 14px; font-weight: 600; font-size: 15px; border-bottom: 1px solid #e1dfdd; background: #faf9f8; }
  .title::before { content: "\\25BE"; color: #605e5c; margin-right: 8px; }
  .body { padding: 4px 14px 12px; }
  h1, h2, h3, h4 { font-weight: 600; margin: 12px 0 8px; }
  h3 { font-size: 16px; }
  p { margin: 6px 0 10px; }
  table { border-collapse: collapse; margin: 6px 0 10px; width: 100%; }
  th, td { border: 1px solid #e1dfdd; padding: 5px 9px; text-align: left; vertical-align: top; }
  th { background: #f3f2f1; font-weight: 600; }
  tbody tr:nth-child(even) td { background: #fbfbfb; }
  td:first-child { white-space: nowrap; }
  code { font-family: "DejaVu Sans Mono", Consolas, monospace; font-size: 12px; background: #f3f2f1; padding: 1px 4px; border-radius: 3px; overflow-wrap: anywhere; }
  ul { margin: 6px 0 10px; padding-left: 22px; }
`;

/** A whole page: the summary in a section headed by its title, as a run's summary tab lists it. */
export function summaryPage(title: string, markdown: string): string {
  return `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(title)}</title><style>${STYLE}</style></head>
<body><main><div class="section"><div class="title">${escapeHtml(title)}</div><div class="body">
${markdownToHtml(markdown)}
</div></div></main></body></html>
`;
}
