/**
 * `edgelog/worker`: the Hono Worker serving the v1 HTTP API, and the Durable Object classes
 * (export them from your own Worker's entry to embed edgelog).
 */
import { Hono } from 'hono'

export { PartitionObject } from './objects/partition.ts'
export { ControllerObject } from './objects/controller.ts'
export { GroupObject } from './objects/group.ts'

export const app = new Hono<{ Bindings: Cloudflare.Env }>()

app.get('/v1/health', (c) => c.json({ ok: true }))

export default app
