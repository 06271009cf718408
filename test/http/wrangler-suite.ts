/**
 * A test file's own `wrangler dev` (wrangler-dev.ts): started before its tests in a fresh
 * persistence folder, killed and removed after them. The answer stands for the running server
 * (`dev.url` and the rest read the one started).
 */
import { execFile } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll } from 'vitest'
import { ROOT, startWranglerDev, type WranglerDev } from './wrangler-dev.ts'

export function useWranglerDev(prefix: string, options: Parameters<typeof startWranglerDev>[1] & { buildDist?: boolean } = {}): WranglerDev {
  const dir = mkdtempSync(join(tmpdir(), prefix))
  let dev: WranglerDev | undefined
  beforeAll(async () => {
    // dist/ is what `npm install` builds (the prepare script); built here if a checkout lacks it.
    if (options.buildDist && !existsSync(join(ROOT, 'dist/cli/node.js'))) {
      await new Promise<void>((resolve, reject) => execFile(process.execPath, ['scripts/build.mjs'], { cwd: ROOT }, (e) => (e ? reject(e) : resolve())))
    }
    dev = await startWranglerDev(dir, options)
  }, 120_000)
  afterAll(async () => {
    await dev?.kill()
    rmSync(dir, { recursive: true, force: true })
  })
  const running = () => {
    if (!dev) throw new Error('wrangler dev is not running (used outside the tests?)')
    return dev
  }
  return {
    get url() { return running().url },
    get child() { return running().child },
    output: () => running().output(),
    kill: () => running().kill(),
  }
}

/** `npx edgelog …` as a user runs it (the built CLI, bin/edgelog.mjs → dist/) against `url`. */
export function runCli(url: string, args: string[], stdin?: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = execFile(process.execPath, [join(ROOT, 'bin/edgelog.mjs'), ...args, '--bootstrap-server', url], { cwd: ROOT, timeout: 60_000 }, (error, stdout, stderr) => {
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, stdout, stderr })
    })
    child.stdin!.end(stdin ?? '')
  })
}
