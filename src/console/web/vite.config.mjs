// The managers' console: a React single-page app built into dist/console and served by the API at
// /console (src/console/router.ts). `npm run build:console` runs this.
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';
import react from '@vitejs/plugin-react';

const here = fileURLToPath(new URL('.', import.meta.url));

export default defineConfig({
  root: here,
  base: '/console/',
  plugins: [react()],
  build: {
    outDir: fileURLToPath(new URL('../../../dist/console', import.meta.url)),
    emptyOutDir: true,
    // Files only: the content security policy allows no inline script or style, and no data: script.
    assetsInlineLimit: 0,
    sourcemap: true,
    chunkSizeWarningLimit: 1024,
  },
});
