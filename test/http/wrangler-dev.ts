/** Starts `wrangler dev` as a user would (own process group, its own persistence dir and port), for Node-side tests and benchmarks. */
import { spawn, type ChildProcess } from 'node:child_process'
import { createServer } from 'node:net'
import { fileURLToPath } from 'node:url'
import { join } from 'node:path'

export const ROOT = fileURLToPath(new URL('../../', import.meta.url))

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number }
      server.close(() => resolve(port))
    })
  })
}

export interface WranglerDev {
  url: string
  child: ChildProcess
  output: () => string
  /** SIGKILL to the whole process group (wrangler and workerd). */
  kill(): Promise<void>
}

export async function startWranglerDev(persistTo: string, options: { timeoutMs?: number; vars?: Record<string, string>; args?: string[]; port?: number } = {}): Promise<WranglerDev> {
  const port = options.port ?? await freePort()
  const args = ['dev', '--ip', '127.0.0.1', '--port', String(port), '--persist-to', persistTo, '--inspector-port', String(await freePort())]
  for (const [k, v] of Object.entries(options.vars ?? {})) args.push('--var', `${k}:${v}`)
  args.push(...(options.args ?? []))
  const child = spawn(join(ROOT, 'node_modules/.bin/wrangler'), args, {
    cwd: ROOT,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, CLOUDFLARE_CF_FETCH_ENABLED: 'false', WRANGLER_SEND_METRICS: 'false', NO_COLOR: '1', CI: '1' },
  })
  let output = ''
  child.stdout!.on('data', (d) => { output += d })
  child.stderr!.on('data', (d) => { output += d })
  const url = `http://127.0.0.1:${port}`
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  const dev: WranglerDev = {
    url,
    child,
    output: () => output,
    kill: async () => {
      try { process.kill(-child.pid!, 'SIGKILL') } catch { /* already gone */ }
      await exited
    },
  }
  const deadline = Date.now() + (options.timeoutMs ?? 45_000)
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`wrangler dev exited (${child.exitCode}):\n${output}`)
    try {
      const res = await fetch(`${url}/v1/health`)
      if (res.ok) return dev
    } catch { /* not up yet */ }
    await new Promise((r) => setTimeout(r, 200))
  }
  await dev.kill()
  throw new Error(`wrangler dev did not answer within the time limit:\n${output}`)
}
