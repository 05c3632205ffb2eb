import fs from 'node:fs';
import path from 'node:path';

const ROOT = path.resolve(__dirname, '..', '..');

/** Directories that are not the project's own text: dependencies, data, build output, reports, recorded histories. */
const SKIP = new Set(['node_modules', '.git', '.data', 'dist', 'coverage', 'schemathesis-report', 'histories']);
const TEXT = /\.(ts|js|cjs|mjs|md|sh|ya?ml|json)$|^Dockerfile$|^run$/;

function files(dir: string, keep: (name: string) => boolean): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) return SKIP.has(entry.name) ? [] : files(full, keep);
    return entry.isFile() && keep(entry.name) ? [full] : [];
  });
}

const rel = (file: string) => path.relative(ROOT, file);

/** Markdown without its fenced code blocks, where a `#` line is not a heading and `](...)` not a link. */
const withoutFences = (markdown: string) => markdown.replace(/^(```|~~~)[^\n]*\n[\s\S]*?^\1[^\n]*$/gm, '');

/** ... and without inline code either, for links. */
const prose = (markdown: string) => withoutFences(markdown).replace(/`[^`\n]*`/g, '``');

/** GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens; repeats get -1, -2, ... */
function anchors(markdown: string): Set<string> {
  const seen = new Map<string, number>();
  const result = new Set<string>();
  for (const [, heading] of withoutFences(markdown).matchAll(/^#{1,6}[ \t]+(.+?)[ \t#]*$/gm)) {
    const base = heading
      .replace(/\[([^\]]*)\]\([^)]*\)/g, '$1')
      .trim()
      .toLowerCase()
      .replace(/[^\p{L}\p{N}\s_-]/gu, '')
      .replace(/\s/g, '-');
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    result.add(n === 0 ? base : `${base}-${n}`);
  }
  return result;
}

/** Every relative link of a Markdown file: [text](target) and [text](target "title"), outside code. */
function relativeLinks(markdown: string): string[] {
  return [...prose(markdown).matchAll(/\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)]
    .map(([, target]) => target)
    .filter((target) => !/^[a-z][a-z0-9+.-]*:/i.test(target));
}

/**
 * The repository explains itself: every relative link in its Markdown documents resolves to a file
 * (and to a heading of it, for a #fragment), and nothing in it points to a document outside the
 * repository (a ../shared path or a numbered section of a specification it does not contain).
 */
describe('documents', () => {
  const markdown = files(ROOT, (name) => name.endsWith('.md'));

  it('the README and docs/ exist, and the README links every document of docs/', () => {
    const docs = fs.readdirSync(path.join(ROOT, 'docs')).filter((name) => name.endsWith('.md'));
    expect(docs.length).toBeGreaterThan(0);
    const readme = relativeLinks(fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8')).map((t) => path.normalize(t.split('#')[0]));
    expect(docs.filter((name) => !readme.includes(path.join('docs', name)))).toEqual([]);
  });

  it('every relative link in a Markdown file resolves, anchors included', () => {
    const broken: string[] = [];
    for (const file of markdown) {
      for (const target of relativeLinks(fs.readFileSync(file, 'utf8'))) {
        const [pathPart, fragment] = target.split('#', 2);
        const resolved = pathPart ? path.resolve(path.dirname(file), decodeURI(pathPart)) : file;
        if (!fs.existsSync(resolved)) {
          broken.push(`${rel(file)}: ${target} (no such file)`);
          continue;
        }
        if (fragment && resolved.endsWith('.md') && !anchors(fs.readFileSync(resolved, 'utf8')).has(decodeURIComponent(fragment))) {
          broken.push(`${rel(file)}: ${target} (no such heading in ${rel(resolved)})`);
        }
      }
    }
    expect(broken).toEqual([]);
  });

  it('the link check catches a missing file and a missing heading', () => {
    const sample =
      '# Title\n\n## A section: with `code`\n\n[ok](#a-section-with-code) [gone](#nowhere) [file](./no-such-file.md)\n```\n[in code](nowhere.md)\n```\n';
    expect(relativeLinks(sample)).toEqual(['#a-section-with-code', '#nowhere', './no-such-file.md']);
    expect(anchors(sample)).toEqual(new Set(['title', 'a-section-with-code']));
  });

  const text = () => files(ROOT, (name) => TEXT.test(name) && name !== 'package-lock.json').filter((file) => file !== __filename);

  it('every docs/ document a file names (a code comment citing docs/design.md, ...) exists', () => {
    const missing = text().flatMap((file) =>
      [...fs.readFileSync(file, 'utf8').matchAll(/(?<![\w./-])docs\/([\w-]+\.md)/g)]
        .filter(([, name]) => !fs.existsSync(path.join(ROOT, 'docs', name)))
        .map(([cited]) => `${rel(file)}: ${cited}`),
    );
    expect(missing).toEqual([]);
  });

  it('no file points to a document outside the repository', () => {
    const outside = [/\.\.\/shared\b/, /\bSPEC\b/, /SPEC\.md/];
    const offenders = text().flatMap((file) =>
      fs
        .readFileSync(file, 'utf8')
        .split('\n')
        .map((line, i) => ({ line, at: `${rel(file)}:${i + 1}` }))
        .filter(({ line }) => outside.some((pattern) => pattern.test(line)))
        .map(({ at, line }) => `${at}: ${line.trim()}`),
    );
    expect(offenders).toEqual([]);
  });
});
