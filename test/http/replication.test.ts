/**
 * Issue 16's edge proof against a real `wrangler dev` (placement hints are ignored there, the
 * replica objects are real): `npx edgelog topics --create --replication-factor 3` and
 * `--describe` with Leader, Replicas, Isr; the same through the KafkaJS-shaped admin and
 * `GET /v1/topics/:topic`; records produced with acks=all and consumed back (the consumer's
 * long polls wait on the leader replica).
 */
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { connect } from '../../adapters/http/index.ts'
import { useWranglerDev, runCli } from './wrangler-suite.ts'

const dev = useWranglerDev('edgelog-replication-', { buildDist: true })

const edgelog = (args: string[], stdin?: string) => runCli(dev.url, args, stdin)

describe('replication against wrangler dev', () => {
  it('kafka-topics --create --partitions 3 --replication-factor 3, then --describe shows Leader, Replicas, Isr', async () => {
    const created = await edgelog(['topics', '--create', '--topic', 'T', '--partitions', '3', '--replication-factor', '3', '--config', 'min.insync.replicas=2'])
    expect(created).toMatchObject({ code: 0, stdout: 'Created topic T.\n' })
    const described = await edgelog(['topics', '--describe', '--topic', 'T'])
    expect(described.code).toBe(0)
    const lines = described.stdout.trim().split('\n')
    expect(lines[0]).toMatch(/^Topic: T\tTopicId: \w+\tPartitionCount: 3\tReplicationFactor: 3\tConfigs: min.insync.replicas=2$/)
    expect(lines.slice(1)).toEqual([
      '\tTopic: T\tPartition: 0\tLeader: 0\tReplicas: 0,1,2\tIsr: 0,1,2',
      '\tTopic: T\tPartition: 1\tLeader: 1\tReplicas: 1,2,3\tIsr: 1,2,3',
      '\tTopic: T\tPartition: 2\tLeader: 2\tReplicas: 2,3,4\tIsr: 2,3,4',
    ])
    const tooMany = await edgelog(['topics', '--create', '--topic', 'U', '--replication-factor', '6'])
    expect(tooMany.stderr).toMatch(/INVALID_REPLICATION_FACTOR/)
    // The test-only fault switch does not exist in a deployment without EDGELOG_TEST_REPLICA_FAULTS=true.
    const switched = await fetch(`${dev.url}/v1/test/topics/T/partitions/0/replicas/1/fault`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"fault":"unreachable"}' })
    expect(switched.status).toBe(404)
  }, 120_000)

  it('the admin API and GET /v1/topics/:topic agree; acks=all records come back to a consumer', async () => {
    const kafka = connect({ url: dev.url })
    const admin = kafka.admin()
    const { topics } = await admin.fetchTopicMetadata({ topics: ['T'] })
    expect(topics[0].partitions.map((p) => [p.partitionId, p.leader, p.replicas, p.isr])).toEqual([
      [0, 0, [0, 1, 2], [0, 1, 2]], [1, 1, [1, 2, 3], [1, 2, 3]], [2, 2, [2, 3, 4], [2, 3, 4]],
    ])
    const producer = kafka.producer()
    await producer.connect()
    const values = Array.from({ length: 30 }, (_, i) => `r${i}`)
    await producer.send({ topic: 'T', acks: -1, messages: values.map((value, i) => ({ key: `k${i}`, value })) })
    await producer.disconnect()
    const http = await (await fetch(`${dev.url}/v1/topics/T`)).json() as { partitions: Array<{ highWatermark: number; leader: number; leaderEpoch: number; replicas: number[]; isr: number[] }> }
    expect(http.partitions.reduce((n, p) => n + p.highWatermark, 0)).toBe(30)
    expect(http.partitions.map((p) => [p.leader, p.leaderEpoch, p.isr.length])).toEqual([[0, 0, 3], [1, 0, 3], [2, 0, 3]])
    const consumed = await edgelog(['console-consumer', '--topic', 'T', '--from-beginning', '--max-messages', '30', '--timeout-ms', '15000'])
    expect(consumed.code).toBe(0)
    expect(consumed.stdout.trim().split('\n').sort()).toEqual([...values].sort())
  }, 120_000)

  it('kafka-reassign-partitions --execute / --verify and kafka-leader-election --election-type PREFERRED', async () => {
    expect((await edgelog(['topics', '--create', '--topic', 'R', '--replication-factor', '3', '--config', 'min.insync.replicas=2'])).code).toBe(0)
    const kafka = connect({ url: dev.url })
    const producer = kafka.producer()
    await producer.connect()
    await producer.send({ topic: 'R', acks: -1, messages: Array.from({ length: 20 }, (_, i) => ({ value: `m${i}` })) })
    expect((await kafka.admin().describeCluster()).brokers.map((b) => b.host)).toEqual(['enam', 'weur', 'apac', 'wnam', 'eeur'])
    // 0, 1, 2 → 3, 4, 1: two replicas added (they copy the log), the leader 0 and 2 removed; 3 preferred.
    const file = join(mkdtempSync(join(tmpdir(), 'edgelog-reassign-')), 'reassign.json')
    writeFileSync(file, JSON.stringify({ version: 1, partitions: [{ topic: 'R', partition: 0, replicas: [3, 4, 1], log_dirs: ['any', 'any', 'any'] }] }))
    const executed = await edgelog(['reassign-partitions', '--reassignment-json-file', file, '--execute'])
    expect(executed.stderr).toBe('')
    expect(executed.stdout).toContain('{"version":1,"partitions":[{"topic":"R","partition":0,"replicas":[0,1,2],"log_dirs":["any","any","any"]}]}')
    expect(executed.stdout).toContain('Successfully started partition reassignments for R-0')
    let verified = await edgelog(['reassign-partitions', '--reassignment-json-file', file, '--verify'])
    while (verified.code !== 0) {
      expect(verified.stdout).toContain('Reassignment of partition R-0 is still in progress.')
      verified = await edgelog(['reassign-partitions', '--reassignment-json-file', file, '--verify'])
    }
    expect(verified.stdout).toBe('Status of partition reassignment:\nReassignment of partition R-0 is completed.\n')
    // The removed leader handed over to the first in-sync replica of the target (3); electing the preferred one is not needed.
    const described = await edgelog(['topics', '--describe', '--topic', 'R'])
    expect(described.stdout).toMatch(/Partition: 0\tLeader: 3\tReplicas: 3,4,1\tIsr: [134],[134],[134]\n/)
    const notNeeded = await edgelog(['leader-election', '--election-type', 'PREFERRED', '--topic', 'R', '--partition', '0'])
    expect(notNeeded).toMatchObject({ code: 0, stdout: 'Valid replica already elected for partitions R-0\n' })
    // Reorder, then elect: 4 leads.
    writeFileSync(file, JSON.stringify({ version: 1, partitions: [{ topic: 'R', partition: 0, replicas: [4, 3, 1] }] }))
    expect((await edgelog(['reassign-partitions', '--reassignment-json-file', file, '--execute'])).code).toBe(0)
    const elected = await edgelog(['leader-election', '--election-type', 'PREFERRED', '--topic', 'R', '--partition', '0'])
    expect(elected).toMatchObject({ code: 0, stdout: 'Successfully completed leader election (PREFERRED) for partitions R-0\n' })
    expect((await edgelog(['topics', '--describe', '--topic', 'R'])).stdout).toMatch(/Partition: 0\tLeader: 4\tReplicas: 4,3,1\t/)
    const bad = await edgelog(['leader-election', '--election-type', 'UNCLEAN', '--topic', 'R', '--partition', '0'])
    expect([bad.code, bad.stderr]).toEqual([1, expect.stringMatching(/only PREFERRED/)])
    const consumed = await edgelog(['console-consumer', '--topic', 'R', '--from-beginning', '--max-messages', '20', '--timeout-ms', '15000'])
    expect(consumed.stdout.trim().split('\n')).toEqual(Array.from({ length: 20 }, (_, i) => `m${i}`))
    await producer.disconnect()
    await kafka.close()
  }, 120_000)
})
