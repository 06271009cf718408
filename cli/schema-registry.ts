/**
 * `npx edgelog schema-registry <verb>`: the registry's REST calls as verbs, against the
 * Worker's root paths (or any Confluent-compatible registry):
 *
 *   register --subject S (--schema JSON | --schema-file F) [--schema-type AVRO|JSON] [--references JSON]
 *   lookup   --subject S (--schema JSON | --schema-file F) [--schema-type …]
 *   check    --subject S [--version V|latest] (--schema … | --schema-file …) [--verbose]   (exit 1 when incompatible)
 *   list     [--deleted]                                   subjects, one per line
 *   versions --subject S [--deleted]
 *   get      --subject S [--version V|latest]  |  get --id N
 *   config   [--subject S] [--set LEVEL]
 *   delete   --subject S [--version V] [--permanent]
 *
 * --url (or --bootstrap-server) defaults to http://127.0.0.1:8787; the token to $EDGELOG_TOKEN.
 */
import { RegistryClient } from '../core/schemas/client.ts'
import { isSchemaRegistryError } from '../core/schemas/errors.ts'
import { compatibilityLevelOf, type SchemaInput } from '../core/schemas/schema-types.ts'
import { flag, has, parseArgs, requireFlag, UsageError, type ParsedArgs } from './args.ts'
import type { ToolIO } from './tools.ts'

export const SCHEMA_REGISTRY_USAGE = `  schema-registry   register|lookup|check --subject S (--schema JSON | --schema-file F) [--schema-type AVRO|JSON] [--version V] [--verbose]
                    list [--deleted] | versions --subject S | get (--subject S [--version V] | --id N)
                    config [--subject S] [--set LEVEL] | delete --subject S [--version V] [--permanent]
                    [--url URL] (the registry at the Worker's root paths, Confluent's REST API)`

export interface SchemaRegistryToolOptions {
  fetch?: typeof fetch
  readFile?: (path: string) => Promise<string>
}

/** Runs one verb; returns the exit code. */
export async function runSchemaRegistry(argv: string[], io: ToolIO, env: Record<string, string | undefined> = {}, options: SchemaRegistryToolOptions = {}): Promise<number> {
  const [verb, ...rest] = argv
  // Kafka's tools take `--version` bare (print the version); here it names a subject's version.
  const args = parseArgs(rest.flatMap((a, i) => (a === '--version' && i + 1 < rest.length && !rest[i + 1].startsWith('--') ? [] : rest[i - 1] === '--version' && !a.startsWith('--') ? [`--version=${a}`] : [a])))
  const raw = flag(args, 'url') ?? flag(args, 'bootstrap-server') ?? 'http://127.0.0.1:8787'
  const client = new RegistryClient({ url: /^https?:\/\//.test(raw) ? raw : `http://${raw}`, token: flag(args, 'token') ?? env.EDGELOG_TOKEN, fetch: options.fetch })
  const print = (value: unknown) => io.out(typeof value === 'string' ? value : JSON.stringify(value))
  try {
    switch (verb) {
      case 'register': print(await client.register(requireFlag(args, 'subject'), await schemaOf(args, options))); return 0
      case 'lookup': print(await client.lookup(requireFlag(args, 'subject'), await schemaOf(args, options))); return 0
      case 'check': {
        const result = await client.testCompatibility(requireFlag(args, 'subject'), flag(args, 'version'), await schemaOf(args, options), { verbose: has(args, 'verbose') })
        print(result)
        return result.is_compatible ? 0 : 1
      }
      case 'list': for (const s of await client.subjects({ deleted: has(args, 'deleted') })) print(s); return 0
      case 'versions': print(await client.versions(requireFlag(args, 'subject'), { deleted: has(args, 'deleted') })); return 0
      case 'get': {
        const id = flag(args, 'id')
        print(id !== undefined ? await client.schemaById(id) : await client.getVersion(requireFlag(args, 'subject'), flag(args, 'version') ?? 'latest'))
        return 0
      }
      case 'config': {
        const subject = flag(args, 'subject')
        const level = flag(args, 'set')
        print(level !== undefined ? await client.setConfig(subject, compatibilityLevelOf(level)) : await client.getConfig(subject))
        return 0
      }
      case 'delete': {
        const subject = requireFlag(args, 'subject')
        const version = flag(args, 'version')
        print(version !== undefined ? await client.deleteVersion(subject, version, { permanent: has(args, 'permanent') }) : await client.deleteSubject(subject, { permanent: has(args, 'permanent') }))
        return 0
      }
      default:
        io.err(`Unknown schema-registry verb '${verb ?? ''}'.\n${SCHEMA_REGISTRY_USAGE}`)
        return 1
    }
  } catch (error) {
    if (error instanceof UsageError) io.err(error.message)
    else if (isSchemaRegistryError(error)) io.err(`Error: ${error.code} (${error.errorCode}): ${error.message}`)
    else io.err(`Error: ${(error as Error)?.message ?? error}`)
    return 1
  }
}

async function schemaOf(args: ParsedArgs, options: SchemaRegistryToolOptions): Promise<SchemaInput> {
  let schema = flag(args, 'schema')
  const file = flag(args, 'schema-file')
  if (schema === undefined && file === undefined) throw new UsageError('Give the schema with --schema JSON or --schema-file F')
  if (schema === undefined) {
    const read = options.readFile ?? (async (path: string) => (await import('node:fs/promises')).readFile(path, 'utf8'))
    schema = await read(file!)
  }
  const refs = flag(args, 'references')
  let references: SchemaInput['references']
  if (refs !== undefined) {
    try { references = JSON.parse(refs) } catch { throw new UsageError('--references must be JSON: [{ "name", "subject", "version" }]') }
  }
  return { schema, schemaType: flag(args, 'schema-type'), references }
}
