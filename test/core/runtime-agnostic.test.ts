import { readdirSync, readFileSync, statSync } from 'node:fs'
import { join, relative } from 'node:path'
import { describe, expect, it } from 'vitest'

const root = join(import.meta.dirname, '..', '..')

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name)
    return statSync(path).isDirectory() ? sources(path) : name.endsWith('.ts') ? [path] : []
  })
}

describe('core/ imports no runtime', () => {
  const files = sources(join(root, 'core'))

  it('has sources to check', () => {
    expect(files.length).toBeGreaterThan(10)
  })

  it.each(files.map((f) => [relative(root, f), f]))('%s imports only other core modules', (_name, file) => {
    const text = readFileSync(file, 'utf8')
    const specifiers = [...text.matchAll(/(?:import|export)\s[^'"]*?from\s+['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/g)]
      .map((m) => m[1] ?? m[2])
    for (const spec of specifiers) {
      expect(spec, `${file} imports ${spec}`).toMatch(/^\.\.?\//)
      const target = join(file, '..', spec)
      expect(relative(join(root, 'core'), target).startsWith('..'), `${file} reaches outside core/ with ${spec}`).toBe(false)
    }
  })

  it.each(files.map((f) => [relative(root, f), f]))('%s uses no runtime-specific global', (_name, file) => {
    const code = readFileSync(file, 'utf8').replace(/\/\*[\s\S]*?\*\/|\/\/.*$/gm, '')
    for (const global of ['window', 'document', 'indexedDB', 'Buffer', 'process', 'require', 'navigator', '__dirname']) {
      expect(code, `${file} uses ${global}`).not.toMatch(new RegExp(`(?<![.\\w'"])${global}\\b(?!['"])`))
    }
  })
})
