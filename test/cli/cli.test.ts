import { describe, expect, it } from 'vitest'
import { run } from '../../cli/main.ts'
import { LocalBroker } from '../../core/log/local-broker.ts'
import { createClient } from '../../core/client/client.ts'
import { MemoryStorage } from '../../adapters/memory/index.ts'

/** One in-process log shared by every command, as a server would be; each command gets its own client. */
function harness() {
  const broker = new LocalBroker({ storage: new MemoryStorage(), settings: { 'log.retention.check.interval.ms': 0 } })
  const urls: string[] = []
  const connect = ({ url }: { url: string }) => {
    urls.push(url)
    return createClient(broker, { onClose: async () => {} })
  }
  return {
    urls,
    async cli(argv: string[], stdin: string[] = []) {
      const out: string[] = []
      const err: string[] = []
      const code = await run(argv, {
        out: (l) => out.push(l), err: (l) => err.push(l),
        lines: async function* () { yield* stdin },
      }, connect)
      return { code, out, err }
    },
  }
}

describe('edgelog topics', () => {
  it('creates, lists, describes, alters and deletes topics like kafka-topics', async () => {
    const { cli, urls } = harness()
    expect(await cli(['topics', '--create', '--topic', 'email', '--partitions', '3', '--replication-factor', '1', '--config', 'retention.ms=1000'])).toMatchObject({ code: 0, out: ['Created topic email.'] })
    expect(urls[0]).toBe('http://127.0.0.1:8787')
    expect((await cli(['topics', '--list'])).out).toEqual(['email'])
    const described = await cli(['topics', '--describe', '--topic', 'email', '--bootstrap-server', 'localhost:9999'])
    expect(urls.at(-1)).toBe('http://localhost:9999')
    expect(described.out[0]).toMatch(/^Topic: email\tTopicId: \w+\tPartitionCount: 3\tReplicationFactor: 1\tConfigs: retention.ms=1000$/)
    expect(described.out.slice(1)).toEqual([0, 1, 2].map((p) => `\tTopic: email\tPartition: ${p}\tLeader: 0\tReplicas: 0\tIsr: 0`))
    expect((await cli(['topics', '--alter', '--topic', 'email', '--partitions', '4'])).code).toBe(0)
    const shrink = await cli(['topics', '--alter', '--topic', 'email', '--partitions', '2'])
    expect(shrink.code).toBe(1)
    expect(shrink.err[0]).toMatch(/^Error: INVALID_PARTITIONS/)
    expect((await cli(['topics', '--delete', '--topic', 'email'])).code).toBe(0)
    expect((await cli(['topics', '--list'])).out).toEqual([])
  })

  it('says what is wrong with bad usage', async () => {
    const { cli } = harness()
    expect((await cli(['topics', '--create'])).err[0]).toMatch(/--topic/)
    expect((await cli(['nope'])).code).toBe(1)
    expect((await cli(['topics', '--create', '--topic', 'bad name'])).err[0]).toMatch(/INVALID_TOPIC_EXCEPTION/)
  })
})

describe('edgelog console-producer and console-consumer', () => {
  it('produces lines with parse.key and reads them back from the beginning with keys and partitions', async () => {
    const { cli } = harness()
    await cli(['topics', '--create', '--topic', 'greetings', '--partitions', '2'])
    const produced = await cli(['console-producer', '--topic', 'greetings', '--property', 'parse.key=true', '--property', 'key.separator=:'], ['a:hello', 'b:world', 'a:again'])
    expect(produced.code).toBe(0)
    const consumed = await cli(['console-consumer', '--topic', 'greetings', '--from-beginning', '--max-messages', '3', '--timeout-ms', '3000',
      '--property', 'print.key=true', '--property', 'print.partition=true', '--property', 'key.separator=:'])
    expect(consumed.code).toBe(0)
    expect(consumed.err).toEqual(['Processed a total of 3 messages'])
    const lines = consumed.out.map((l) => l.replace(/^Partition:(\d+)\t/, '$1 '))
    const byKey = (k: string) => lines.filter((l) => l.includes(` ${k}:`))
    expect(byKey('a').map((l) => l.split(' ')[1])).toEqual(['a:hello', 'a:again'])
    expect(byKey('b').map((l) => l.split(' ')[1])).toEqual(['b:world'])
    expect(new Set(byKey('a').map((l) => l.split(' ')[0])).size).toBe(1)
  })

  it('a consumer group remembers where it was', async () => {
    const { cli } = harness()
    await cli(['console-producer', '--topic', 'jobs'], ['1', '2', '3'])
    const first = await cli(['console-consumer', '--topic', 'jobs', '--group', 'workers', '--from-beginning', '--max-messages', '2', '--timeout-ms', '3000'])
    expect(first.out).toEqual(['1', '2'])
    const described = await cli(['consumer-groups', '--describe', '--group', 'workers'])
    expect(described.out[0]).toMatch(/^GROUP\s+TOPIC\s+PARTITION\s+CURRENT-OFFSET\s+LOG-END-OFFSET\s+LAG\s+CONSUMER-ID\s+HOST\s+CLIENT-ID$/)
    expect(described.out[1].split(/\s+/).slice(0, 6)).toEqual(['workers', 'jobs', '0', '2', '3', '1'])
    const second = await cli(['console-consumer', '--topic', 'jobs', '--group', 'workers', '--max-messages', '1', '--timeout-ms', '3000'])
    expect(second.out).toEqual(['3'])
    expect((await cli(['consumer-groups', '--list'])).out).toEqual(['workers'])
    const reset = await cli(['consumer-groups', '--reset-offsets', '--group', 'workers', '--topic', 'jobs', '--to-earliest', '--execute'])
    expect(reset.out[1].split(/\s+/)).toEqual(['workers', 'jobs', '0', '0'])
    const again = await cli(['console-consumer', '--topic', 'jobs', '--group', 'workers', '--max-messages', '3', '--timeout-ms', '3000'])
    expect(again.out).toEqual(['1', '2', '3'])
  })
})

describe('edgelog dump-log', () => {
  it('prints batches and, with --print-data-log, records, as kafka-dump-log does', async () => {
    const { cli } = harness()
    await cli(['console-producer', '--topic', 'd', '--property', 'parse.key=true', '--property', 'key.separator=:'], ['k:v1', 'k:v2'])
    const { out, code } = await cli(['dump-log', '--topic', 'd', '--print-data-log'])
    expect(code).toBe(0)
    expect(out[0]).toBe('Dumping segment d-0/00000000000000000000.log')
    expect(out[2]).toMatch(/^baseOffset: 0 lastOffset: 1 count: 2 baseSequence: 0 lastSequence: 1 producerId: \d+ producerEpoch: 0 .* magic: 2 compresscodec: none crc: \d+ isvalid: true$/)
    expect(out[3]).toMatch(/^\| offset: 0 CreateTime: \d+ keySize: 1 valueSize: 2 sequence: 0 headerKeys: \[\] key: k payload: v1$/)
    expect(out[4]).toMatch(/^\| offset: 1 .* payload: v2$/)
    // Kafka's form, with the segment file name the tool prints.
    const byFile = await cli(['dump-log', '--files', 'd-0/00000000000000000000.log', '--print-data-log'])
    expect(byFile.out).toEqual(out)
    expect((await cli(['dump-log', '--files', 'd-0/00000000000000000099.log'])).code).toBe(1)
  })
})
