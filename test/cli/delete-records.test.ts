/** `edgelog delete-records --offset-json-file FILE`, as Kafka's kafka-delete-records.sh. */
import { describe, expect, it } from 'vitest'
import { parseOffsetJson } from '../../cli/delete-records.ts'
import { createClient } from '../../core/client/client.ts'
import { cliHarness } from './harness.ts'

const harness = cliHarness

describe('edgelog delete-records', () => {
  it("deletes records before each offset and prints Kafka's report (offset -1: the high watermark)", async () => {
    const h = harness()
    const client = createClient(h.broker, { onClose: async () => {} })
    await client.admin().createTopics({ topics: [{ topic: 'email', numPartitions: 3 }] })
    for (let p = 0; p < 3; p++) await client.producer().send({ topic: 'email', messages: Array.from({ length: 5 }, (_, i) => ({ partition: p, value: `v${i}` })) })
    const path = h.file({ partitions: [{ topic: 'email', partition: 0, offset: 3 }, { topic: 'email', partition: 1, offset: -1 }, { topic: 'email', partition: 2, offset: 9 }], version: 1 })
    const result = await h.cli(['kafka-delete-records.sh', '--bootstrap-server', 'localhost:9092', '--offset-json-file', path])
    expect(result.code).toBe(0)
    expect(result.out[0]).toBe('Executing records delete operation')
    expect(result.out[1]).toBe('Records delete operation completed:')
    expect(result.out[2]).toBe('partition: email-0\tlow_watermark: 3')
    expect(result.out[3]).toBe('partition: email-1\tlow_watermark: 5')
    expect(result.out[4]).toMatch(/^partition: email-2\terror: OFFSET_OUT_OF_RANGE: /)
    expect((await client.admin().fetchTopicOffsets('email')).map((o) => o.low)).toEqual(['3', '5', '0'])
  })

  it('an unknown topic is reported per partition', async () => {
    const h = harness()
    const result = await h.cli(['delete-records', '--offset-json-file', h.file({ partitions: [{ topic: 'nope', partition: 0, offset: 1 }] })])
    expect(result.out[2]).toMatch(/^partition: nope-0\terror: UNKNOWN_TOPIC_OR_PARTITION: /)
  })

  it('a bad file is a usage error (exit 1)', async () => {
    const h = harness()
    expect((await h.cli(['delete-records'])).code).toBe(1)
    expect((await h.cli(['delete-records', '--offset-json-file', '/nonexistent/x.json'])).code).toBe(1)
    expect((await h.cli(['delete-records', '--offset-json-file', h.file('{not json')])).code).toBe(1)
    expect(() => parseOffsetJson(JSON.stringify({ partitions: [{ topic: 't', partition: 0, offset: 1 }, { topic: 't', partition: 0, offset: 2 }] }))).toThrow(/duplicate topic partitions: t-0/)
    expect(() => parseOffsetJson(JSON.stringify({ partitions: [{ topic: 't', partition: 'x', offset: 1 }] }))).toThrow(/partitions\[0\]/)
    expect(parseOffsetJson(JSON.stringify({ partitions: [{ topic: 't', partition: 0, offset: '7' }], version: 1 }))).toEqual([{ topic: 't', partition: 0, offset: 7 }])
  })
})
