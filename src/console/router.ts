import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import express, { Router, type RequestHandler } from 'express';
import helmet from 'helmet';

/** Where `npm run build:console` (Vite) writes the console: index.html and hashed files in assets/. */
export const CONSOLE_DIST = resolve(__dirname, '../../dist/console');

export interface ConsoleOptions {
  /** The built console (default: dist/console of this checkout or image). */
  dir?: string;
}

/**
 * The console's content security policy: everything from this origin only, no inline script or
 * style (the build emits files only), no eval; data: images for the CSS framework's icons; the
 * API is called on the same origin.
 */
function consoleContentSecurityPolicy(): RequestHandler {
  return helmet.contentSecurityPolicy({
    useDefaults: false,
    directives: {
      defaultSrc: ["'self'"],
      scriptSrc: ["'self'"],
      styleSrc: ["'self'"],
      imgSrc: ["'self'", 'data:'],
      fontSrc: ["'self'"],
      connectSrc: ["'self'"],
      objectSrc: ["'none'"],
      baseUri: ["'none'"],
      formAction: ["'self'"],
      frameAncestors: ["'none'"],
    },
  });
}

/**
 * The managers' console (a single-page app, source in src/console/web/), mounted at /console:
 * the built files, hashed assets cached for a year, and index.html for every other path so that
 * the browser's router shows the page (a reload of /console/callbacks/<id> works). It serves no
 * data: the page calls the API with the key the user pasted.
 */
export function consoleRouter(options: ConsoleOptions = {}): Router {
  const dir = options.dir ?? CONSOLE_DIST;
  const router = Router();
  router.use(consoleContentSecurityPolicy());
  // A missing hashed file is a 404, never index.html (a stale page asking for an old bundle).
  router.use('/assets', express.static(join(dir, 'assets'), { index: false, immutable: true, maxAge: '365d', fallthrough: false }));
  router.get('/{*path}', (_req, res) => {
    const index = join(dir, 'index.html');
    if (!existsSync(index)) {
      res.status(503).type('text/plain').send('The console is not built: run `npm run build:console`.\n');
      return;
    }
    res.setHeader('Cache-Control', 'no-cache');
    res.sendFile(index);
  });
  return router;
}
