/**
 * The demo's build: `npm install` runs it (scripts/build.mjs) into web-demo/dist, which
 * wrangler.jsonc serves as static assets beside the API. `npx vite web-demo` serves it with
 * hot reload (the API calls then need `npm start` on :8787: see the proxy below).
 */
import { defineConfig } from 'vite'
import { fileURLToPath } from 'node:url'

const root = fileURLToPath(new URL('.', import.meta.url))

export default defineConfig({
  root,
  base: '/',
  publicDir: 'public',
  build: { outDir: 'dist', emptyOutDir: true, target: 'es2022', sourcemap: true, reportCompressedSize: false },
  worker: { format: 'es' },
  server: { proxy: { '/v1': 'http://127.0.0.1:8787' } },
  logLevel: 'warn',
})
