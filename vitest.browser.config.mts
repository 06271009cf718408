import { defineConfig } from 'vitest/config'

// `npm run test:browser`: edgelog in real Chromium (Debian's chromium through playwright-core).
// The tests drive the browser from Node; one file at a time (each starts its own Chromium).
export default defineConfig({
  test: {
    name: 'browser',
    include: ['test/browser/**/*.test.ts'],
    environment: 'node',
    fileParallelism: false,
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
})
