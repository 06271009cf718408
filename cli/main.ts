/**
 * `npx edgelog <tool>`: Kafka's tools (topics, console-producer, console-consumer,
 * consumer-groups, dump-log) against an edgelog server (--bootstrap-server, default
 * http://127.0.0.1:8787; a bearer token from --token or EDGELOG_TOKEN).
 */
import type { EdgelogClient } from '../core/client/client.ts'
import { isEdgelogError } from '../core/errors.ts'
import { flag, parseArgs, requireFlag, UsageError } from './args.ts'
import { mirrorMakerTool } from './mirror-maker.ts'
import { DELETE_RECORDS_USAGE, deleteRecordsTool } from './delete-records.ts'
import { leaderElectionTool, REASSIGN_USAGE, reassignPartitionsTool } from './reassign.ts'
import { runSchemaRegistry, SCHEMA_REGISTRY_USAGE } from './schema-registry.ts'
import { consoleConsumerTool, consoleProducerTool, consumerGroupsTool, dumpLogTool, topicsTool, type ToolIO } from './tools.ts'

export const DEFAULT_BOOTSTRAP = 'http://127.0.0.1:8787'

const TOOLS = {
  'topics': topicsTool,
  'console-producer': consoleProducerTool,
  'console-consumer': consoleConsumerTool,
  'consumer-groups': consumerGroupsTool,
  'dump-log': dumpLogTool,
  'delete-records': deleteRecordsTool,
  'leader-election': leaderElectionTool,
  'reassign-partitions': reassignPartitionsTool,
} as const

export const USAGE = `Usage: edgelog <tool> [--bootstrap-server URL] [--token TOKEN] [options]

Tools (Kafka's names and flags):
  topics            --create --topic T [--partitions N] [--replication-factor 1] [--config k=v]
                    --list | --describe [--topic T] | --alter --topic T --partitions N | --delete --topic T
  console-producer  --topic T [--property parse.key=true --property key.separator=:]   (lines from stdin)
  console-consumer  --topic T [--from-beginning] [--group G] [--max-messages N] [--timeout-ms MS]
                    [--property print.key=true --property print.partition=true --property print.offset=true]
  consumer-groups   --list | --describe --group G [--members|--state] | --delete --group G
                    --reset-offsets --group G --topic T (--to-earliest|--to-latest|--to-offset N) [--execute]
  dump-log          --files T-P/<base offset>.log | --topic T [--partition P] [--offset O]   [--print-data-log]
  mirror-maker      --source URL --target URL --include REGEX [--source-token T] [--target-token T] [--once]
                    (the target keeps replicas of the source's topics: same offsets, same batches)
${DELETE_RECORDS_USAGE}
${REASSIGN_USAGE}
${SCHEMA_REGISTRY_USAGE}

--bootstrap-server defaults to ${DEFAULT_BOOTSTRAP}; the token to $EDGELOG_TOKEN.`

/** Runs one tool; returns the process exit code. */
export async function run(
  argv: string[],
  io: ToolIO,
  connect: (options: { url: string; token?: string }) => EdgelogClient,
  env: Record<string, string | undefined> = {},
): Promise<number> {
  const [tool, ...rest] = argv
  if (!tool || tool === '--help' || tool === 'help') {
    io.out(USAGE)
    return tool ? 0 : 1
  }
  const name = tool.replace(/^kafka-/, '').replace(/\.sh$/, '')
  if (name === 'mirror-maker') return runMirrorMaker(rest, io, connect, env)
  if (name === 'schema-registry') return runSchemaRegistry(rest, io, env)
  const impl = TOOLS[name as keyof typeof TOOLS]
  if (!impl) {
    io.err(`Unknown tool '${tool}'.\n${USAGE}`)
    return 1
  }
  const args = parseArgs(rest)
  const log = connect({ url: withScheme(flag(args, 'bootstrap-server') ?? DEFAULT_BOOTSTRAP), token: flag(args, 'token') ?? env.EDGELOG_TOKEN })
  try {
    await impl(log, args, io)
    return 0
  } catch (error) {
    return failed(error, io)
  } finally {
    await log.close().catch(() => {})
  }
}

/** mirror-maker talks to two deployments: --source and --target, each with its own token. */
async function runMirrorMaker(
  argv: string[], io: ToolIO, connect: (options: { url: string; token?: string }) => EdgelogClient, env: Record<string, string | undefined>,
): Promise<number> {
  const args = parseArgs(argv)
  const url = withScheme
  let source: EdgelogClient | undefined
  let target: EdgelogClient | undefined
  try {
    source = connect({ url: url(requireFlag(args, 'source')), token: flag(args, 'source-token') ?? env.EDGELOG_SOURCE_TOKEN ?? env.EDGELOG_TOKEN })
    target = connect({ url: url(requireFlag(args, 'target')), token: flag(args, 'target-token') ?? env.EDGELOG_TARGET_TOKEN ?? env.EDGELOG_TOKEN })
    await mirrorMakerTool(source, target, args, io)
    return 0
  } catch (error) {
    return failed(error, io)
  } finally {
    await source?.close().catch(() => {})
    await target?.close().catch(() => {})
  }
}

/** A tool's failure as Kafka's tools print it; the exit code. */
function failed(error: unknown, io: ToolIO): number {
  if (error instanceof UsageError) io.err(error.message)
  else if (isEdgelogError(error)) io.err(`Error: ${error.code}: ${error.message}`)
  else io.err(`Error: ${(error as Error)?.message ?? error}`)
  return 1
}

/** `host:port` as Kafka's tools take it, or a URL. */
function withScheme(url: string): string {
  return /^https?:\/\//.test(url) ? url : `http://${url}`
}
