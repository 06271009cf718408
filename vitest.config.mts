import { cloudflareTest } from '@cloudflare/vitest-pool-workers'
import { defineConfig } from 'vitest/config'

// One `vitest run`: workerd tests (the Worker, the Durable Object adapter) and Node tests.
export default defineConfig({
  test: {
    projects: [
      {
        plugins: [cloudflareTest({
          wrangler: { configPath: './wrangler.jsonc' },
          // Replication tests (test/worker/replication*.test.ts): the fault switch is allowed here only,
          // and a follower leaves the ISR after 1 s instead of Kafka's 30 s.
          miniflare: { bindings: { EDGELOG_TEST_REPLICA_FAULTS: 'true', EDGELOG_SETTINGS: JSON.stringify({ 'replica.lag.time.max.ms': 1000 }) } },
        })],
        test: { name: 'workers', include: ['test/worker/**/*.test.ts'] },
      },
      {
        test: {
          name: 'node',
          include: ['test/**/*.test.ts'],
          exclude: ['test/worker/**', 'test/browser/**', 'test/chaos/**', 'test/http/durable-streams-conformance.test.ts', 'node_modules/**'],
          environment: 'node',
        },
      },
      {
        // The Durable Streams suite is the protocol authors' own, with wall-clock assertions (a
        // 1 s TTL, an SSE close within a few ms) that a loaded 2-core machine can miss: a test
        // that fails twice in a row still fails.
        test: {
          name: 'ds-conformance',
          include: ['test/http/durable-streams-conformance.test.ts'],
          environment: 'node',
          retry: 2,
        },
      },
    ],
  },
})
