// Headless Chromium driven by its own command-line flags (no driver, no npm package): load a
// page in a fresh profile, let the app settle in virtual time, screenshot it and dump its DOM.
import { execFile } from 'node:child_process';
import { accessSync, constants, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const CANDIDATES = ['/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome'];

/** The browser to use: $CHROMIUM, else Debian's chromium (or a Chrome) where installed. */
export function chromiumPath(): string | null {
  for (const p of [process.env.CHROMIUM, ...CANDIDATES]) {
    if (!p) continue;
    try {
      accessSync(p, constants.X_OK);
      return p;
    } catch {
      /* next */
    }
  }
  return null;
}

/** Why the browser tests cannot run here, or null when they can. */
export function chromiumUnavailable(): string | null {
  return chromiumPath()
    ? null
    : `no headless browser: none of ${CANDIDATES.join(', ')} (or $CHROMIUM) is executable; install Debian's chromium (scripts/test.sh does, through SETUP_EXTRA_APT)`;
}

export interface LoadedPage {
  /** The DOM as serialized after the budget. */
  dom: string;
  /** Its visible text (tags stripped, entities decoded, whitespace collapsed). */
  text: string;
  /** What the Temporal UI renders in iframes (/render?content=…: summary, current details), by the iframe's id. */
  frames: Record<string, string>;
}

/**
 * Load `url` (redirects followed: a login link that sets a cookie and redirects works in one go),
 * wait `budgetMs` of virtual time, write a screenshot to `png` and return the DOM.
 */
export async function loadPage(url: string, png: string, opts: { budgetMs?: number; size?: string } = {}): Promise<LoadedPage> {
  const browser = chromiumPath();
  if (!browser) throw new Error(chromiumUnavailable()!);
  const profile = mkdtempSync(path.join(os.tmpdir(), 'cf-chromium-'));
  const args = [
    '--headless=new',
    '--no-sandbox',
    '--disable-gpu',
    '--no-first-run',
    '--hide-scrollbars',
    // Else it tries to reach Google, and fails, with nothing to show for it.
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
    `--user-data-dir=${profile}`,
    `--window-size=${opts.size ?? '1400,1000'}`,
    `--virtual-time-budget=${opts.budgetMs ?? 15_000}`,
    `--screenshot=${png}`,
    '--dump-dom',
    url,
  ];
  try {
    const dom = await new Promise<string>((resolve, reject) => {
      execFile(browser, args, { timeout: 90_000, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
        if (err) reject(new Error(`${browser} failed on ${url}: ${err.message}\n${stderr.slice(-2000)}`));
        else resolve(stdout);
      });
    });
    return { dom, text: visibleText(dom), frames: renderedFrames(dom) };
  } finally {
    rmSync(profile, { recursive: true, force: true });
  }
}

function decodeEntities(s: string): string {
  return s.replace(/&(#x[0-9a-f]+|#\d+|amp|lt|gt|quot|apos|nbsp);/gi, (_, e: string) => {
    const k = e.toLowerCase();
    if (k.startsWith('#x')) return String.fromCodePoint(parseInt(k.slice(2), 16));
    if (k.startsWith('#')) return String.fromCodePoint(Number(k.slice(1)));
    return ({ amp: '&', lt: '<', gt: '>', quot: '"', apos: "'", nbsp: ' ' } as Record<string, string>)[k]!;
  });
}

function visibleText(dom: string): string {
  const body = dom.replace(/<(script|style)\b[\s\S]*?<\/\1>/gi, ' ').replace(/<[^>]+>/g, ' ');
  return decodeEntities(body).replace(/\s+/g, ' ');
}

function renderedFrames(dom: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [tag] of dom.matchAll(/<iframe\b[^>]*>/gi)) {
    const src = /\ssrc="([^"]*)"/.exec(tag)?.[1];
    const id = /\sid="([^"]*)"/.exec(tag)?.[1];
    if (!src || !id) continue;
    const content = new URL(decodeEntities(src), 'http://ui.invalid').searchParams.get('content');
    if (content !== null) out[id] = content;
  }
  return out;
}
