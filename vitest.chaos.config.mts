import { cloudflareTest } from '@cloudflare/vitest-pool-workers'
import { defineConfig } from 'vitest/config'

// `npm run test:chaos`: the reliability suite (shared/CONTRACTS.md §9). Crashes under load
// (wrangler dev killed with SIGKILL, Chromium pages and workers crashed), injected storage
// faults, and fuzzing of the Worker. EDGELOG_CHAOS=short (what .ci/run uses) runs fewer rounds.
// Each file prints one `chaos:` line with what it tried and what it found.
const short = process.env.EDGELOG_CHAOS === 'short'
export default defineConfig({
  test: {
    projects: [
      {
        plugins: [cloudflareTest({ wrangler: { configPath: './wrangler.jsonc' } })],
        define: { __CHAOS_SHORT__: JSON.stringify(short) },
        test: { name: 'chaos-workers', include: ['test/chaos/worker/**/*.test.ts'], testTimeout: 600_000 },
      },
      {
        test: {
          name: 'chaos-node',
          include: ['test/chaos/**/*.test.ts'],
          exclude: ['test/chaos/worker/**', 'node_modules/**'],
          environment: 'node',
          // Each file starts its own servers or browsers; on two cores they take turns.
          fileParallelism: false,
          testTimeout: 900_000,
          hookTimeout: 120_000,
        },
      },
    ],
  },
})
