import assert from 'node:assert/strict';
import { markdownToHtml, summaryPage, tableCells } from '../../scripts/summary-html';
import { keyValueTable, markdownTable } from '../../src/tasks/markdown';

// The page `npm run summaries` photographs: the markdown the tasks write, as HTML, nothing lost.

describe('build summary markdown as HTML (npm run summaries)', () => {
  it('reads back the tables src/tasks/markdown.ts writes, escaped pipes and all', () => {
    const markdown = `### Image promoted by digest\n\n${keyValueTable([
      ['Digest', '`sha256:abc` (unchanged)'],
      ['Note', 'a|b <script>'],
    ])}\n${markdownTable(['Where', 'Was'], [['deploy/a.yaml:3', '`repo:1.0`']])}`;
    assert.equal(
      markdownToHtml(markdown),
      [
        '<h3>Image promoted by digest</h3>',
        '<table><tbody><tr><td>Digest</td><td><code>sha256:abc</code> (unchanged)</td></tr><tr><td>Note</td><td>a|b &lt;script&gt;</td></tr></tbody></table>',
        '<table><thead><tr><th>Where</th><th>Was</th></tr></thead><tbody><tr><td>deploy/a.yaml:3</td><td><code>repo:1.0</code></td></tr></tbody></table>',
      ].join('\n'),
    );
  });

  it('paragraphs, bold, lists; what it does not know stays as escaped text', () => {
    assert.equal(
      markdownToHtml('Scan **passed** for `a<b`\nsecond line\n\n- one\n- **two**\n\n> a quote & [a link](x)'),
      '<p>Scan <strong>passed</strong> for <code>a&lt;b</code> second line</p>\n<ul><li>one</li><li><strong>two</strong></li></ul>\n<p>&gt; a quote &amp; [a link](x)</p>',
    );
  });

  it('splits cells only at unescaped pipes', () => {
    assert.deepEqual(tableCells('| a\\|b | `c` |'), ['a|b', '`c`']);
  });

  it('a page holds the section title, escaped', () => {
    const page = summaryPage('Digest<Capture>', '### x');
    assert.match(page, /<div class="title">Digest&lt;Capture&gt;<\/div>/);
    assert.match(page, /<h3>x<\/h3>/);
  });
});
