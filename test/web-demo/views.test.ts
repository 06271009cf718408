// @vitest-environment happy-dom
/** The demo's pictures, as a person reads them: cells at offsets, segments, markers, groups, sync, errors. */
import { describe, expect, it } from 'vitest'
import { cellsOf, renderPartition, renderTopic, type PartitionView } from '../../web-demo/src/log-view.ts'
import { ownership, renderGroup, type GroupView } from '../../web-demo/src/group-view.ts'
import { lastSync, renderSync, replicaLag, type SyncStateView } from '../../web-demo/src/sync-view.ts'
import { describeError, explain, renderError } from '../../web-demo/src/errors.ts'
import { ConsoleView, formatLine } from '../../web-demo/src/console-view.ts'
import { ago } from '../../web-demo/src/dom.ts'
import { parseHeaders } from '../../web-demo/src/app.ts'
import { EdgelogError } from '../../core/errors.ts'

const rec = (offset: number, key: string | null, value: string | null) => ({ offset, key, value })

describe('a partition drawn as a log', () => {
  const view: PartitionView = {
    partition: 1, logStartOffset: 2, highWatermark: 8,
    segments: [{ baseOffset: 2, endOffset: 5, sizeBytes: 200 }, { baseOffset: 5, endOffset: 8, sizeBytes: 150 }],
    records: [rec(2, 'a', '1'), rec(4, 'b', '1'), rec(5, 'a', '2'), rec(6, 'c', null), rec(7, 'b', '2')],
    pending: [{ outboxOffset: 0, key: 'p', value: 'later' }],
  }

  it('has one cell per offset up to the high watermark, then the pending records', () => {
    const { from, cells } = cellsOf(view)
    expect(from).toBe(0)
    expect(cells.map((c) => (c.kind === 'pending' ? 'pending' : `${c.offset}:${c.kind}`))).toEqual([
      '0:removed', '1:removed', '2:record', '3:removed', '4:record', '5:record', '6:record', '7:record', 'pending',
    ])
    // Below the log start: retention; inside the log, a missing offset: compaction.
    expect(cells[0]).toMatchObject({ why: 'retention' })
    expect(cells[3]).toMatchObject({ why: 'compaction' })
  })

  it('marks segments, the log start, the high watermark, tombstones and new arrivals', () => {
    const el = renderPartition('email', view, 7)
    expect(el.getAttribute('aria-label')).toBe('Partition 1: log start offset 2, high watermark 8, 6 records kept in 2 segments, 1 pending')
    const cell = (o: number) => el.querySelector(`[data-offset="${o}"]`)!
    expect(cell(2).className).toContain('seg-start')
    expect(cell(2).className).toContain('log-start')
    expect(cell(5).className).toContain('seg-start')
    expect(cell(5).className).toContain('seg-odd')
    expect(cell(4).className).toContain('seg-even')
    expect(cell(6).className).toContain('tombstone')
    expect(cell(7).className).toContain('fresh')
    expect(cell(6).className).not.toContain('fresh')
    expect(cell(4).getAttribute('title')).toBe('offset 4: key "b", value "1"')
    expect(cell(3).getAttribute('title')).toBe('offset 3: removed by compaction')
    expect(el.querySelector('.hw')!.textContent).toBe('HW 8')
    expect(el.querySelector('.cell.pending')!.getAttribute('title')).toContain('waiting for the edge')
    expect(el.getAttribute('tabindex')).toBe('0')
  })

  it('draws only the latest offsets of a long partition and says how many came before', () => {
    const long: PartitionView = { partition: 0, logStartOffset: 0, highWatermark: 100, segments: [{ baseOffset: 0, endOffset: 100, sizeBytes: 1 }],
      records: Array.from({ length: 100 }, (_, i) => rec(i, `k${i}`, 'v')) }
    const el = renderPartition('t', long, Infinity, 10)
    expect(el.querySelectorAll('.cell.record')).toHaveLength(10)
    expect(el.querySelector('.cell.more')!.textContent).toContain('…90')
  })

  it('a topic shows its partitions and the settings that differ from the defaults', () => {
    const el = renderTopic({ name: 'profiles', config: { 'cleanup.policy': 'compact', 'retention.ms': 604800000, 'segment.bytes': 256 }, partitions: [view, { ...view, partition: 2 }] })
    expect(el.querySelectorAll('.partition')).toHaveLength(2)
    expect(el.querySelector('h3')!.textContent).toContain('cleanup.policy=compact')
    expect(el.querySelector('h3')!.textContent).toContain('segment.bytes=256')
    expect(el.querySelector('h3')!.textContent).not.toContain('retention.ms')
  })
})

describe('a consumer group', () => {
  const group: GroupView = {
    groupId: 'workers', state: 'Stable', protocol: 'cooperative-sticky',
    members: [
      { memberId: 'm-a', clientId: 'tab-a', memberAssignment: { jobs: [0, 2] } },
      { memberId: 'm-b', clientId: 'tab-b', memberAssignment: { jobs: [1] } },
      { memberId: 'm-c', clientId: 'tab-c', memberAssignment: {} },
    ],
  }

  it('3 partitions : 3 consumers, one idle (the seeds\' example of more consumers than partitions)', () => {
    const { owner, idle, unassigned } = ownership({ ...group, members: [...group.members, { memberId: 'm-d', clientId: 'tab-d', memberAssignment: {} }] }, 'jobs', 3)
    expect([...owner.entries()].sort()).toEqual([[0, 'm-a'], [1, 'm-b'], [2, 'm-a']])
    expect(idle).toEqual(['m-c', 'm-d'])
    expect(unassigned).toEqual([])
  })

  it('shows members with their partitions, this tab marked, and lag as bars', () => {
    const el = renderGroup(group, [
      { topic: 'jobs', partition: 0, offset: 5, highWatermark: 10, lag: 5 },
      { topic: 'jobs', partition: 1, offset: -1, highWatermark: 10, lag: 10 },
    ], new Set(['m-b']))
    const members = [...el.querySelectorAll<HTMLElement>('.member')]
    expect(members.map((m) => m.dataset.partitions)).toEqual(['jobs-0,jobs-2', 'jobs-1', ''])
    expect(members[1].className).toContain('me')
    expect(members[1].textContent).toContain('this tab (tab-b)')
    expect(members[2].textContent).toContain('idle')
    const rows = [...el.querySelectorAll('table.lag tbody tr')].map((tr) => [...tr.children].slice(0, 4).map((td) => td.textContent))
    expect(rows).toEqual([['jobs-0', '5', '10', '5'], ['jobs-1', '–', '10', '10']])
    expect((el.querySelectorAll<HTMLElement>('.bar')[0]).style.width).toBe('50%')
  })
})

describe('the followed topic\'s sync', () => {
  const state: SyncStateView = {
    online: true, follower: 'online', forwarder: 'online', lastSyncAt: 1_000, outbox: { waiting: 2, deadLetters: 0 },
    topics: [{ topic: 'synced', source: 'http://x', partitions: [
      { partition: 0, highWatermark: 5, leaderHighWatermark: 8, lag: 3, syncedAt: 4_000 },
      { partition: 1, highWatermark: 2, leaderHighWatermark: 2, lag: 0, syncedAt: 3_000 },
    ] }],
  }

  it('says online or offline, the outbox, the replica lag and the last sync', () => {
    const el = renderSync(state, true, 10_000)
    expect(el.dataset.sync).toBe('online')
    const fact = (n: string) => el.querySelector(`[data-fact="${n}"]`)!.textContent
    expect(fact('outbox')).toBe('2')
    expect(fact('lag')).toBe('3 records behind the edge')
    expect(fact('last-sync')).toBe('6 s ago')
    expect(replicaLag(state)).toBe(3)
    expect(lastSync(state)).toBe(4_000)
  })

  it('is offline when the browser is, whatever the last status said', () => {
    expect(renderSync(state, false, 10_000).dataset.sync).toBe('offline')
    expect(renderSync({ ...state, online: false }, true, 10_000).dataset.sync).toBe('offline')
    expect(renderSync(undefined, true, 0).textContent).toContain('opening')
  })

  it('times in words', () => {
    expect(ago(-1, 5)).toBe('never')
    expect(ago(0, 130_000)).toBe('never')
    expect(ago(10_000, 130_000)).toBe('2 min ago')
  })
})

describe('typed errors, explained', () => {
  it('names the code and says what it means', () => {
    const el = renderError(new EdgelogError('UNKNOWN_TOPIC_OR_PARTITION', "Unknown topic 'x'"), 'Producing')
    expect(el.getAttribute('role')).toBe('alert')
    expect(el.querySelector('code')!.textContent).toBe('UNKNOWN_TOPIC_OR_PARTITION')
    expect(el.textContent).toContain('Create the topic first')
    expect(el.textContent).toContain("Unknown topic 'x'")
  })

  it('explains being offline, and keeps retriable', () => {
    expect(describeError(new EdgelogError('NETWORK_EXCEPTION', 'fetch failed', { retriable: true }))).toMatchObject({ retriable: true, words: expect.stringContaining('offline') })
    expect(explain('SOMETHING_NEW')).toContain('Something went wrong')
    expect(describeError(new Error('plain')).code).toBe('UNKNOWN_SERVER_ERROR')
  })
})

describe('console consumer lines', () => {
  it('print partition, offset, key, value and headers as kafka-console-consumer does', () => {
    expect(formatLine({ topic: 't', partition: 1, offset: '0', key: 'u1', value: 'hi', headers: { h: 'v' } })).toBe('Partition:1\tOffset:0\tu1\thi\th:v')
    expect(formatLine({ topic: 't', partition: 0, offset: '3', key: null, value: null })).toBe('Partition:0\tOffset:3\tnull\tnull')
    const view = new ConsoleView('out', 2)
    for (let i = 0; i < 3; i++) view.add({ topic: 't', partition: 0, offset: String(i), key: null, value: `v${i}` })
    expect(view.lines).toEqual(['Partition:0\tOffset:1\tnull\tv1', 'Partition:0\tOffset:2\tnull\tv2'])
    expect(view.element.getAttribute('aria-live')).toBe('polite')
  })

  it('headers typed as a=1, b=2', () => {
    expect(parseHeaders('source=demo, trace:42, ,flag')).toEqual({ source: 'demo', trace: '42', flag: '' })
  })
})
