/**
 * `npx edgelog` as a user runs it: the built CLI (bin/edgelog.mjs → dist/) against `wrangler dev`,
 * Kafka's tools end to end over the HTTP API.
 */
import { describe, expect, it } from 'vitest'
import { useWranglerDev, runCli } from './wrangler-suite.ts'

const dev = useWranglerDev('edgelog-cli-', { buildDist: true })

const edgelog = (args: string[], stdin?: string) => runCli(dev.url, args, stdin)

describe('npx edgelog against wrangler dev', () => {
  it('creates and describes a topic, produces keyed lines, consumes them in a group, shows its lag, dumps the log', async () => {
    expect(await edgelog(['topics', '--create', '--topic', 'cli', '--partitions', '2'])).toMatchObject({ code: 0, stdout: 'Created topic cli.\n' })
    const described = await edgelog(['topics', '--describe', '--topic', 'cli'])
    expect(described.stdout).toMatch(/^Topic: cli\tTopicId: \w+\tPartitionCount: 2\tReplicationFactor: 1\tConfigs: \n\tTopic: cli\tPartition: 0\tLeader: 0\tReplicas: 0\tIsr: 0\n/)
    expect((await edgelog(['console-producer', '--topic', 'cli', '--property', 'parse.key=true', '--property', 'key.separator=:'], 'a:one\nb:two\na:three\n')).code).toBe(0)
    const consumed = await edgelog(['console-consumer', '--topic', 'cli', '--group', 'g', '--from-beginning', '--max-messages', '3', '--timeout-ms', '10000', '--property', 'print.key=true', '--property', 'key.separator=='])
    expect(consumed.code).toBe(0)
    expect(consumed.stdout.trim().split('\n').sort()).toEqual(['a=one', 'a=three', 'b=two'])
    expect(consumed.stderr).toContain('Processed a total of 3 messages')
    const lag = await edgelog(['consumer-groups', '--describe', '--group', 'g'])
    const rows = lag.stdout.trim().split('\n').slice(1).map((l) => l.split(/\s+/).slice(0, 6))
    expect(rows.reduce((n, r) => n + Number(r[4]), 0)).toBe(3) // log-end offsets
    expect(rows.every((r) => r[5] === '0')).toBe(true) // no lag
    const dumped = await edgelog(['dump-log', '--topic', 'cli', '--partition', String(rows.find((r) => Number(r[4]) > 0)![2]), '--print-data-log'])
    expect(dumped.stdout).toMatch(/magic: 2 compresscodec: none crc: \d+ isvalid: true/)
    expect((await edgelog(['topics', '--delete', '--topic', 'nope'])).stderr).toMatch(/UNKNOWN_TOPIC_OR_PARTITION/)
  }, 120_000)
})
