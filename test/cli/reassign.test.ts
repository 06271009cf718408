/**
 * `edgelog leader-election` and `edgelog reassign-partitions` (Kafka's kafka-leader-election.sh
 * and kafka-reassign-partitions.sh): their files, usage errors, and a broker without replicas
 * (one log: LocalBroker). Against replicated topics they run in test/http/replication.test.ts.
 */
import { describe, expect, it } from 'vitest'
import { run } from '../../cli/main.ts'
import { parseJson } from '../../cli/reassign.ts'
import { LocalBroker } from '../../core/log/local-broker.ts'
import { createClient } from '../../core/client/client.ts'
import { cliHarness } from './harness.ts'

const harness = cliHarness

describe('edgelog leader-election and reassign-partitions', () => {
  it("parses Kafka's files: replicas required for a reassignment, no partition twice", () => {
    expect(parseJson('{"version":1,"partitions":[{"topic":"t","partition":0,"replicas":[1,2],"log_dirs":["any","any"]}]}', true)).toEqual([{ topic: 't', partition: 0, replicas: [1, 2] }])
    expect(parseJson('{"partitions":[{"topic":"t","partition":1}]}', false)).toEqual([{ topic: 't', partition: 1 }])
    expect(() => parseJson('{"partitions":[{"topic":"t","partition":0}]}', true)).toThrow(/replicas/)
    expect(() => parseJson('{"partitions":[{"topic":"t","partition":0},{"topic":"t","partition":0}]}', false)).toThrow(/t-0 twice/)
    expect(() => parseJson('{"partitions":[]}', false)).toThrow(/non-empty/)
    expect(() => parseJson('nope', false)).toThrow(/not valid JSON/)
  })

  it('usage errors and a broker with one replica per partition', async () => {
    const h = harness()
    await createClient(h.broker, { onClose: async () => {} }).admin().createTopics({ topics: [{ topic: 't' }] })
    expect((await h.cli(['leader-election', '--election-type', 'UNCLEAN', '--topic', 't', '--partition', '0'])).err[0]).toMatch(/only PREFERRED/)
    expect((await h.cli(['leader-election', '--election-type', 'PREFERRED', '--topic', 't', '--partition', '0'])).err[0]).toMatch(/UNSUPPORTED_VERSION/)
    const path = h.file({ version: 1, partitions: [{ topic: 't', partition: 0, replicas: [0] }] })
    expect((await h.cli(['reassign-partitions', '--reassignment-json-file', path])).err[0]).toMatch(/exactly one of --execute, --verify, --cancel/)
    expect((await h.cli(['kafka-reassign-partitions.sh', '--reassignment-json-file', path, '--execute'])).err[0]).toMatch(/UNSUPPORTED_VERSION/)
  })
})
