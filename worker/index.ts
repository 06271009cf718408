/**
 * `edgelog/worker`: the Hono Worker serving the v1 HTTP API, and the Durable Object classes.
 *
 * Embedding in your own Worker: export the classes from your entry module, bind them as
 * PARTITION, CONTROLLER, GROUP and (for transactions) TRANSACTION (see wrangler.jsonc), and
 * mount the app:
 *
 *   import { createEdgelogApp } from 'edgelog/worker'
 *   export { PartitionObject, ControllerObject, GroupObject, TransactionObject } from 'edgelog/worker'
 *   const edgelog = createEdgelogApp()
 *   export default { fetch: (req, env, ctx) => new URL(req.url).pathname.startsWith('/v1/') ? edgelog.fetch(req, env, ctx) : mine(req) }
 */
import { createApp } from './http/app.ts'

export { PartitionObject, type PartitionTarget } from './objects/partition.ts'
export { ControllerObject, type TopicView } from './objects/controller.ts'
export { GroupObject } from './objects/group.ts'
export { TransactionObject } from './objects/transaction.ts'
export { EdgeBroker } from './edge-broker.ts'
export type { EdgelogEnv } from './env.ts'
export { openapi } from './http/openapi.ts'

/** A fresh Hono app serving the v1 API under /v1 (for mounting in your own Worker). */
export const createEdgelogApp = createApp

export const app = createApp()

export default app
