// Your own Worker with edgelog's API inside: `npx wrangler dev -c examples/worker/wrangler.jsonc`.
import { createEdgelogApp, type EdgelogEnv } from 'edgelog/worker'
export { PartitionObject, ControllerObject, GroupObject } from 'edgelog/worker'

const edgelog = createEdgelogApp()

export default {
  fetch(request, env, ctx) {
    if (new URL(request.url).pathname.startsWith('/v1/')) return edgelog.fetch(request, env, ctx)
    return new Response('mine')
  },
} satisfies ExportedHandler<EdgelogEnv>
