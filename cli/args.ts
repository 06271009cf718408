/** Kafka-tool-style arguments: `--flag value`, `--flag=value`, bare `--flag`, repeated `--property k=v`. */
export interface ParsedArgs {
  flags: Map<string, string[]>
  positional: string[]
}

/** Flags that never take a value (as Kafka's tools define them). */
const BOOLEAN_FLAGS = new Set([
  'create', 'list', 'describe', 'delete', 'alter', 'from-beginning', 'print-data-log', 'execute', 'dry-run',
  'to-earliest', 'to-latest', 'all-groups', 'all-topics', 'help', 'version', 'if-not-exists', 'if-exists', 'offsets',
  'members', 'state', 'verbose', 'skip-message-on-error', 'once', 'verify', 'cancel', 'all-topic-partitions',
])

export function parseArgs(argv: string[]): ParsedArgs {
  const flags = new Map<string, string[]>()
  const positional: string[] = []
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]
    if (!arg.startsWith('--')) {
      positional.push(arg)
      continue
    }
    let name = arg.slice(2)
    let value: string | undefined
    const eq = name.indexOf('=')
    if (eq >= 0) {
      value = name.slice(eq + 1)
      name = name.slice(0, eq)
    } else if (!BOOLEAN_FLAGS.has(name) && i + 1 < argv.length && !argv[i + 1].startsWith('--')) {
      value = argv[++i]
    }
    const list = flags.get(name) ?? []
    list.push(value ?? 'true')
    flags.set(name, list)
  }
  return { flags, positional }
}

export class UsageError extends Error {}

export function flag(args: ParsedArgs, name: string): string | undefined {
  return args.flags.get(name)?.at(-1)
}

export function has(args: ParsedArgs, name: string): boolean {
  return args.flags.has(name)
}

export function requireFlag(args: ParsedArgs, name: string): string {
  const value = flag(args, name)
  if (value === undefined || value === 'true') throw new UsageError(`Missing required argument --${name}`)
  return value
}

export function intFlag(args: ParsedArgs, name: string): number | undefined {
  const value = flag(args, name)
  if (value === undefined) return undefined
  if (!/^-?\d+$/.test(value)) throw new UsageError(`--${name} must be an integer, got '${value}'`)
  return Number(value)
}

/** `--property k=v` and `--config k=v` pairs (Kafka's console tools and kafka-topics). */
export function pairs(args: ParsedArgs, name: string): Map<string, string> {
  const out = new Map<string, string>()
  for (const entry of args.flags.get(name) ?? []) {
    for (const part of entry.split(',')) {
      const eq = part.indexOf('=')
      if (eq <= 0) throw new UsageError(`--${name} takes key=value, got '${part}'`)
      out.set(part.slice(0, eq).trim(), part.slice(eq + 1))
    }
  }
  return out
}
