// Bindings and module types seen by Worker code and by the tests that run inside workerd.
declare namespace Cloudflare {
  type EdgelogEnv = import('../../worker/env.ts').EdgelogEnv
  interface Env extends EdgelogEnv {}
  interface GlobalProps {
    mainModule: typeof import('../../worker/index.ts')
    durableNamespaces: 'PartitionObject' | 'ControllerObject' | 'GroupObject'
  }
}
