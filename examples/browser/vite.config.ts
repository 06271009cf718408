import { defineConfig } from 'vite'

export default defineConfig({
  // Vite's dependency pre-bundling would move edgelog away from its worker.js (docs/browser.md).
  optimizeDeps: { exclude: ['edgelog'] },
  worker: { format: 'es' },
  build: { target: 'es2022' },
})
