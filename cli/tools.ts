/**
 * Kafka's command-line tools over any edgelog client: `topics`, `console-producer`,
 * `console-consumer`, `consumer-groups`, `dump-log`, with Kafka's flags and output formats.
 */
import type { EdgelogClient } from '../core/client/client.ts'
import { isEdgelogError } from '../core/errors.ts'
import { TOPIC_CONFIG_DEFAULTS, type TopicConfig } from '../core/config.ts'
import { readBatchHeader, decodeBatch } from '../core/codec/record-batch.ts'
import { flag, has, intFlag, pairs, requireFlag, UsageError, type ParsedArgs } from './args.ts'

export interface ToolIO {
  out: (line: string) => void
  err: (line: string) => void
  /** Lines of standard input (console-producer). */
  lines: () => AsyncIterable<string>
  /** Aborted on Ctrl-C: long-running tools stop cleanly. */
  signal?: AbortSignal
}

export async function topicsTool(log: EdgelogClient, args: ParsedArgs, io: ToolIO): Promise<void> {
  const admin = log.admin()
  if (has(args, 'list')) {
    for (const name of (await admin.listTopics()).sort()) io.out(name)
    return
  }
  if (has(args, 'create')) {
    const topic = requireFlag(args, 'topic')
    const configEntries = [...pairs(args, 'config')].map(([name, value]) => ({ name, value }))
    const created = await admin.createTopics({
      topics: [{ topic, numPartitions: intFlag(args, 'partitions'), replicationFactor: intFlag(args, 'replication-factor'), configEntries }],
    })
    if (!created && !has(args, 'if-not-exists')) throw new UsageError(`Topic '${topic}' already exists.`)
    if (created) io.out(`Created topic ${topic}.`)
    return
  }
  if (has(args, 'delete')) {
    await admin.deleteTopics({ topics: [requireFlag(args, 'topic')] })
    return
  }
  if (has(args, 'alter')) {
    const topic = requireFlag(args, 'topic')
    const partitions = intFlag(args, 'partitions')
    if (partitions !== undefined) await admin.createPartitions({ topicPartitions: [{ topic, count: partitions }] })
    const configEntries = [...pairs(args, 'config')].map(([name, value]) => ({ name, value }))
    if (configEntries.length > 0) await admin.alterConfigs({ resources: [{ type: 2, name: topic, configEntries }] })
    return
  }
  if (has(args, 'describe')) {
    const only = flag(args, 'topic')
    const { topics } = await admin.fetchTopicMetadata(only ? { topics: [only] } : {})
    for (const topic of topics.sort((a, b) => a.name.localeCompare(b.name))) {
      const { resources } = await admin.describeConfigs({ resources: [{ type: 2, name: topic.name }] })
      const configs = resources[0].configEntries
        .filter((e) => String(TOPIC_CONFIG_DEFAULTS[e.configName as keyof TopicConfig]) !== e.configValue)
        .map((e) => `${e.configName}=${e.configValue}`)
      io.out(`Topic: ${topic.name}\tTopicId: ${topic.topicId}\tPartitionCount: ${topic.partitions.length}\tReplicationFactor: ${topic.partitions[0]?.replicas.length ?? 1}\tConfigs: ${configs.join(',')}`)
      for (const p of topic.partitions) {
        io.out(`\tTopic: ${topic.name}\tPartition: ${p.partitionId}\tLeader: ${p.leader}\tReplicas: ${p.replicas.join(',')}\tIsr: ${p.isr.join(',')}`)
      }
    }
    return
  }
  throw new UsageError('topics: one of --create, --list, --describe, --alter, --delete is required')
}

export async function consoleProducerTool(log: EdgelogClient, args: ParsedArgs, io: ToolIO): Promise<void> {
  const topic = requireFlag(args, 'topic')
  const props = pairs(args, 'property')
  const parseKey = props.get('parse.key') === 'true'
  const separator = unescape(props.get('key.separator') ?? '\t')
  const acksFlag = flag(args, 'request-required-acks') ?? pairs(args, 'producer-property').get('acks') ?? 'all'
  const acks = acksFlag === 'all' || acksFlag === '-1' ? -1 : acksFlag === '0' ? 0 : 1
  const producer = log.producer({ idempotent: true, lingerMs: 5 })
  await producer.connect()
  let pending: Array<{ key?: string; value: string }> = []
  const flush = async () => {
    if (pending.length === 0) return
    const messages = pending
    pending = []
    await producer.send({ topic, acks, messages })
  }
  for await (const line of io.lines()) {
    if (parseKey) {
      const at = line.indexOf(separator)
      if (at < 0) throw new UsageError(`No key separator '${separator}' found on line: ${line}`)
      pending.push({ key: line.slice(0, at), value: line.slice(at + separator.length) })
    } else {
      pending.push({ value: line })
    }
    if (pending.length >= 1000) await flush()
  }
  await flush()
  await producer.disconnect()
}

export async function consoleConsumerTool(log: EdgelogClient, args: ParsedArgs, io: ToolIO): Promise<void> {
  const topic = requireFlag(args, 'topic')
  const props = pairs(args, 'property')
  const maxMessages = intFlag(args, 'max-messages')
  const timeoutMs = intFlag(args, 'timeout-ms')
  const group = flag(args, 'group')
  const partition = intFlag(args, 'partition')
  const offset = flag(args, 'offset')
  const print = (name: string) => props.get(`print.${name}`) === 'true'
  const keySeparator = unescape(props.get('key.separator') ?? '\t')
  const consumer = log.consumer({ groupId: group, maxWaitTimeInMs: 500, heartbeatInterval: 1000 })
  await consumer.subscribe({ topics: [topic], fromBeginning: has(args, 'from-beginning') || offset === 'earliest' })
  if (partition !== undefined && offset !== undefined && offset !== 'earliest' && offset !== 'latest') {
    consumer.seek({ topic, partition, offset })
  }
  let count = 0
  let lastMessageAt = Date.now()
  let stopWhenIdle: ReturnType<typeof setInterval> | undefined
  const done = new Promise<void>((resolve) => {
    stopWhenIdle = timeoutMs === undefined ? undefined : setInterval(() => {
      if (Date.now() - lastMessageAt >= timeoutMs) resolve()
    }, Math.min(100, timeoutMs))
    io.signal?.addEventListener('abort', () => resolve(), { once: true })
    void consumer.run({
      eachMessage: async ({ partition: p, message }) => {
        if (partition !== undefined && p !== partition) return
        if (maxMessages !== undefined && count >= maxMessages) throw new Error('max-messages reached')
        lastMessageAt = Date.now()
        let line = ''
        if (print('timestamp')) line += `CreateTime:${message.timestamp}\t`
        if (print('partition')) line += `Partition:${p}\t`
        if (print('offset')) line += `Offset:${message.offset}\t`
        if (print('key')) line += `${message.key?.toString() ?? 'null'}${keySeparator}`
        line += print('value') || !props.has('print.value') ? message.value?.toString() ?? 'null' : ''
        io.out(line)
        count++
        if (maxMessages !== undefined && count >= maxMessages) {
          // Stop taking messages: what was not printed is not marked processed, so a group resumes there.
          consumer.pause([{ topic }])
          resolve()
        }
      },
    })
  })
  await done
  if (stopWhenIdle) clearInterval(stopWhenIdle)
  await consumer.disconnect()
  io.err(`Processed a total of ${count} messages`)
}

export async function consumerGroupsTool(log: EdgelogClient, args: ParsedArgs, io: ToolIO): Promise<void> {
  const admin = log.admin()
  if (has(args, 'list')) {
    for (const g of (await admin.listGroups()).groups) io.out(g.groupId)
    return
  }
  const groupId = requireFlag(args, 'group')
  if (has(args, 'delete')) {
    await admin.deleteGroups([groupId])
    io.out(`Deletion of requested consumer groups ('${groupId}') was successful.`)
    return
  }
  if (has(args, 'reset-offsets')) {
    const topic = requireFlag(args, 'topic')
    const partitions = (await admin.fetchTopicOffsets(topic))
    const target = (p: { low: string; high: string }) => {
      if (has(args, 'to-earliest')) return p.low
      if (has(args, 'to-latest')) return p.high
      const to = flag(args, 'to-offset')
      if (to !== undefined) return String(Math.min(Math.max(Number(to), Number(p.low)), Number(p.high)))
      throw new UsageError('reset-offsets needs --to-earliest, --to-latest or --to-offset N')
    }
    const plan = partitions.map((p) => ({ partition: p.partition, offset: target(p) }))
    rows(io, ['GROUP', 'TOPIC', 'PARTITION', 'NEW-OFFSET'], plan.map((p) => [groupId, topic, String(p.partition), p.offset]))
    if (has(args, 'execute')) await admin.setOffsets({ groupId, topic, partitions: plan })
    return
  }
  if (has(args, 'describe')) {
    const [group] = (await admin.describeGroups([groupId])).groups
    // As kafka-consumer-groups: a group with neither members nor committed offsets does not exist.
    const missing = new Error(`Consumer group '${groupId}' does not exist.`)
    const lag = await admin.describeGroupOffsets(groupId).catch((error: unknown) => {
      if (isEdgelogError(error) && error.code === 'GROUP_ID_NOT_FOUND') throw missing
      throw error
    })
    if (group.state === 'Dead' && lag.length === 0) throw missing
    if (has(args, 'members')) {
      rows(io, ['GROUP', 'CONSUMER-ID', 'HOST', 'CLIENT-ID', '#PARTITIONS'], group.members.map((m) => [
        groupId, m.memberId, m.clientHost, m.clientId, String(Object.values(m.memberAssignment).flat().length),
      ]))
      return
    }
    if (has(args, 'state')) {
      rows(io, ['GROUP', 'ASSIGNMENT-STRATEGY', 'STATE', '#MEMBERS'], [[groupId, group.protocol, group.state, String(group.members.length)]])
      return
    }
    if (group.members.length === 0) io.err(`Consumer group '${groupId}' has no active members.`)
    const owner = new Map<string, { memberId: string; clientHost: string; clientId: string }>()
    for (const m of group.members) for (const [t, ps] of Object.entries(m.memberAssignment)) for (const p of ps) owner.set(`${t}/${p}`, m)
    rows(io, ['GROUP', 'TOPIC', 'PARTITION', 'CURRENT-OFFSET', 'LOG-END-OFFSET', 'LAG', 'CONSUMER-ID', 'HOST', 'CLIENT-ID'], lag.map((l) => {
      const m = owner.get(`${l.topic}/${l.partition}`)
      return [groupId, l.topic, String(l.partition), l.offset < 0 ? '-' : String(l.offset), String(l.highWatermark), String(l.lag), m?.memberId ?? '-', m?.clientHost ?? '-', m?.clientId ?? '-']
    }))
    return
  }
  throw new UsageError('consumer-groups: one of --list, --describe, --reset-offsets, --delete is required')
}

/** kafka-dump-log for a partition: its segments, batches and (with --print-data-log) records. */
export async function dumpLogTool(log: EdgelogClient, args: ParsedArgs, io: ToolIO): Promise<void> {
  const files = flag(args, 'files')
  if (files !== undefined) {
    // Kafka's form: --files <topic>-<partition>/<base offset>.log[,…] (as this tool prints them).
    for (const file of files.split(',')) {
      const match = /(?:^|\/)([a-zA-Z0-9._-]+)-(\d+)\/(\d+)\.log$/.exec(file.trim())
      if (!match) throw new UsageError(`--files takes <topic>-<partition>/<base offset>.log, got '${file}'`)
      await dumpPartition(log, match[1], Number(match[2]), Number(match[3]), has(args, 'print-data-log'), io, true)
    }
    return
  }
  await dumpPartition(log, requireFlag(args, 'topic'), intFlag(args, 'partition') ?? 0, intFlag(args, 'offset'), has(args, 'print-data-log'), io, false)
}

async function dumpPartition(
  log: EdgelogClient, topic: string, partition: number, from: number | undefined, printData: boolean, io: ToolIO, oneSegment: boolean,
): Promise<void> {
  const states = await log.admin().describePartitions(topic)
  const state = states.find((s) => s.partition === partition)
  if (!state) throw new UsageError(`Topic '${topic}' has no partition ${partition}`)
  let offset = Math.max(from ?? state.logStartOffset, state.logStartOffset)
  const segments = oneSegment ? state.segments.filter((s) => s.baseOffset === from) : state.segments.filter((s) => s.endOffset > offset)
  if (oneSegment && segments.length === 0) throw new UsageError(`No segment ${topic}-${partition}/${String(from).padStart(20, '0')}.log (see dump-log --topic ${topic} --partition ${partition})`)
  for (const segment of segments) {
    io.out(`Dumping segment ${topic}-${partition}/${String(segment.baseOffset).padStart(20, '0')}.log`)
    io.out(`Log starting offset: ${segment.baseOffset}`)
    let position = 0
    while (offset < segment.endOffset) {
      const { batches } = await log.broker.fetch({ topic, partition, offset, maxBytes: 1 << 20 })
      if (batches.length === 0) break
      for (const bytes of batches) {
        const h = readBatchHeader(bytes)
        const lastOffset = h.baseOffset + h.lastOffsetDelta
        if (h.baseOffset >= segment.endOffset) break
        const lastSequence = h.baseSequence < 0 ? -1 : h.baseSequence + h.recordCount - 1
        io.out(`baseOffset: ${h.baseOffset} lastOffset: ${lastOffset} count: ${h.recordCount} baseSequence: ${h.baseSequence} lastSequence: ${lastSequence} producerId: ${h.producerId} producerEpoch: ${h.producerEpoch} partitionLeaderEpoch: ${h.partitionLeaderEpoch} isTransactional: ${h.isTransactional} isControl: ${h.isControl} position: ${position} ${h.timestampType}: ${h.maxTimestamp} size: ${h.sizeBytes} magic: ${h.magic} compresscodec: ${h.compression} crc: ${h.crc} isvalid: true`)
        if (printData) {
          for (const r of (await decodeBatch(bytes)).records) {
            const sequence = h.baseSequence < 0 ? -1 : h.baseSequence + (r.offset - h.baseOffset)
            const payload = r.value === null ? 'null' : new TextDecoder().decode(r.value)
            const key = r.key === null ? '' : ` key: ${new TextDecoder().decode(r.key)}`
            io.out(`| offset: ${r.offset} ${h.timestampType}: ${r.timestamp} keySize: ${r.key?.length ?? -1} valueSize: ${r.value?.length ?? -1} sequence: ${sequence} headerKeys: [${r.headers.map((x) => x.key).join(',')}]${key} payload: ${payload}`)
          }
        }
        position += h.sizeBytes
        offset = lastOffset + 1
      }
    }
  }
}

function rows(io: ToolIO, header: string[], body: string[][]): void {
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((r) => r[i].length)))
  for (const row of [header, ...body]) io.out(row.map((c, i) => c.padEnd(widths[i])).join(' ').trimEnd())
}

function unescape(s: string): string {
  return s.replace(/\\t/g, '\t').replace(/\\n/g, '\n')
}
