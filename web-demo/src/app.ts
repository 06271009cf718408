/**
 * The demo app: one page over any number of stores (the edge log over HTTP, the browser's own
 * log in IndexedDB), each a KafkaJS-shaped `EdgelogClient`. Everything it shows comes from the
 * same client calls a user's code makes; it polls while open, so the pictures grow live.
 */
import type { EdgelogClient } from '../../core/client/client.ts'
import type { Consumer } from '../../core/client/consumer.ts'
import type { Producer, RecordMetadata } from '../../core/client/producer.ts'
import { decodeBatch } from '../../core/codec/record-batch.ts'
import { ConsoleView, type ConsoleLine } from './console-view.ts'
import { h, replace, text } from './dom.ts'
import { renderError } from './errors.ts'
import { renderGroup, type LagView } from './group-view.ts'
import { renderTopic, WINDOW, type CellRecord, type PartitionView, type PendingCell } from './log-view.ts'
import { renderSync, type SyncStateView } from './sync-view.ts'

export interface Store {
  id: string
  /** What the person reads: "Edge log (Durable Objects)". */
  label: string
  client: EdgelogClient
  /** Topics this store follows from the edge (a browser log opened with `remote`). */
  follows?: string[]
}

export interface AppOptions {
  tabId: string
  /** Refresh period of the live pictures (ms). */
  intervalMs?: number
  /** Consumer session timeout (ms): how soon a closed tab's partitions move to the others. */
  sessionTimeoutMs?: number
  /** Where the app remembers its store and topic across reloads. */
  storage?: Pick<Storage, 'getItem' | 'setItem'>
  now?: () => number
  online?: () => boolean
}

/** Topic presets with short settings, so retention and compaction can be watched at work. */
export const TOPIC_KINDS: Record<string, { label: string; configEntries: Array<{ name: string; value: string }> }> = {
  plain: { label: 'plain (keep for 7 days)', configEntries: [] },
  retention: {
    label: 'short retention: segments of ~3 records, deleted after 30 s',
    configEntries: [{ name: 'segment.bytes', value: '256' }, { name: 'retention.ms', value: '30000' }],
  },
  compact: {
    label: 'compacted: keeps the latest value per key (empty value = tombstone)',
    configEntries: [{ name: 'cleanup.policy', value: 'compact' }, { name: 'segment.bytes', value: '256' }, { name: 'delete.retention.ms', value: '10000' }],
  },
}

/** "a=1, b=2" → { a: '1', b: '2' } (blank parts ignored). */
export function parseHeaders(input: string): Record<string, string> {
  const headers: Record<string, string> = {}
  for (const part of input.split(',')) {
    const trimmed = part.trim()
    if (!trimmed) continue
    const at = trimmed.search(/[=:]/)
    if (at <= 0) headers[trimmed] = ''
    else headers[trimmed.slice(0, at).trim()] = trimmed.slice(at + 1).trim()
  }
  return headers
}

function headersOf(entries: Array<{ key: string; value: Uint8Array | null }> | Record<string, unknown> | undefined): Record<string, string> {
  const out: Record<string, string> = {}
  if (Array.isArray(entries)) for (const e of entries) out[e.key] = text(e.value) ?? ''
  else for (const [k, v] of Object.entries(entries ?? {})) out[k] = v instanceof Uint8Array ? (text(v) ?? '') : String(v)
  return out
}

/** A control with its own `<label for>` (the label's text is only its words, not the options'). */
function field(id: string, words: string, control: HTMLElement): HTMLElement {
  control.id = id
  return h('span', { class: 'field' }, h('label', { for: id }, words), ' ', control)
}

interface RunningConsole { id: number; store: Store; topic: string; consumer: Consumer; view: ConsoleView; card: HTMLElement }
interface GroupMembership { store: Store; topic: string; groupId: string; consumer: Consumer; memberIds: Set<string>; view: ConsoleView }

export class App {
  readonly root: HTMLElement
  readonly stores: Store[]
  private store: Store
  private topic = ''
  private topics: string[] = []
  private partitionCount = 0
  private config: Record<string, string | number> = {}
  private readonly lastHw = new Map<string, number>()
  private readonly producers = new Map<string, Producer>()
  private readonly consoles: RunningConsole[] = []
  private group: GroupMembership | undefined
  private syncState: SyncStateView | undefined
  private nextConsole = 1
  private timer: ReturnType<typeof setTimeout> | undefined
  private ticking: Promise<void> | undefined
  private stopped = false
  private lastMaintenance = 0
  private readonly options: Required<Omit<AppOptions, 'storage'>> & Pick<AppOptions, 'storage'>
  private readonly el: Record<string, HTMLElement> = {}

  constructor(root: HTMLElement, stores: Store[], options: AppOptions) {
    if (stores.length === 0) throw new Error('the demo needs at least one store')
    this.root = root
    this.stores = [...stores]
    this.options = {
      intervalMs: 1_000, sessionTimeoutMs: 6_000,
      now: () => Date.now(), online: () => (typeof navigator === 'undefined' ? true : navigator.onLine),
      ...options,
    }
    const saved = this.load()
    this.store = this.stores.find((s) => s.id === saved.store) ?? this.stores[0]
    this.topic = saved.topic ?? ''
    this.build()
  }

  // ---- lifecycle ----------------------------------------------------------------------------

  /** Starts the live refresh. */
  start(): void {
    this.stopped = false
    const loop = async () => {
      if (this.stopped) return
      await this.refresh()
      if (!this.stopped) this.timer = setTimeout(loop, this.options.intervalMs)
    }
    void loop()
  }

  /** Stops refreshing and every consumer this page started (a closing tab leaves its group). */
  async stop(): Promise<void> {
    this.stopped = true
    clearTimeout(this.timer)
    await this.ticking
    await Promise.all([...this.consoles.map((c) => c.consumer.disconnect().catch(() => {})), this.leaveGroup()])
  }

  /** A store that became available later (the browser log opens after the page). */
  addStore(store: Store): void {
    this.stores.push(store)
    const saved = this.load()
    if (saved.store === store.id) {
      this.store = store
      this.topic = saved.topic ?? ''
    }
    this.renderStores()
    void this.refresh()
  }

  /** One refresh of everything shown; also what tests call to avoid waiting for the timer. */
  refresh(): Promise<void> {
    if (this.ticking) return this.ticking
    this.ticking = this.tick().finally(() => { this.ticking = undefined })
    return this.ticking
  }

  // ---- the page -----------------------------------------------------------------------------

  private build(): void {
    const el = this.el
    el.network = h('p', { class: 'network', role: 'status', 'aria-live': 'polite' })
    el.stores = h('fieldset', { class: 'stores' })
    el.topicSelect = h('select', { id: 'topic-select', onchange: (e: Event) => this.selectTopic((e.target as HTMLSelectElement).value) })
    el.topicActions = h('div', { class: 'row' },
      h('button', { type: 'button', id: 'add-partition', onclick: () => this.act('Adding a partition', () => this.addPartition()) }, 'Add a partition'),
      h('button', { type: 'button', id: 'maintain', onclick: () => this.act('Retention and compaction', () => this.store.client.admin().runMaintenance({ topic: this.topic })) }, 'Run retention and compaction now'))
    el.topicErrors = h('div', { class: 'slot' })
    el.picture = h('div', { class: 'picture', 'aria-live': 'off' })
    el.pictureErrors = h('div', { class: 'slot' })
    el.partitionSelect = h('select', { name: 'partition' })
    el.sends = h('ol', { class: 'sends', 'aria-live': 'polite', 'aria-label': 'What was produced' })
    el.produceErrors = h('div', { class: 'slot' })
    el.consoles = h('div', { class: 'consoles' })
    el.consoleErrors = h('div', { class: 'slot' })
    el.groupView = h('div', { class: 'group-view', 'aria-live': 'polite' })
    el.groupConsole = h('div', {})
    el.groupErrors = h('div', { class: 'slot' })
    el.groupButton = h('button', { type: 'submit', id: 'join-group' }, 'Join the group with this tab')
    el.sync = h('div', { class: 'sync-view' })
    el.pendingList = h('ul', { class: 'pending-list', 'aria-label': 'Records waiting in the outbox' })

    const createForm = h('form', { id: 'create-topic', class: 'row', onsubmit: (e: Event) => { e.preventDefault(); void this.act('Creating the topic', () => this.createTopic(createForm)) } },
      field('topic-name', 'Name', h('input', { name: 'name', required: true, value: 'email', autocomplete: 'off', spellcheck: 'false' })),
      field('topic-partitions', 'Partitions', h('input', { name: 'partitions', type: 'number', min: 1, max: 16, value: 3, required: true })),
      field('topic-kind', 'Kind', h('select', { name: 'kind' }, Object.entries(TOPIC_KINDS).map(([k, v]) => h('option', { value: k }, v.label)))),
      h('button', { type: 'submit' }, 'Create topic'))

    const produceForm = h('form', { id: 'produce', class: 'grid', onsubmit: (e: Event) => { e.preventDefault(); void this.act('Producing', () => this.produce(produceForm)) } },
      field('produce-key', 'Key', h('input', { name: 'key', placeholder: '(none: spread over partitions)', autocomplete: 'off' })),
      field('produce-value', 'Value', h('input', { name: 'value', value: 'hello', autocomplete: 'off', 'aria-describedby': 'value-help' })),
      field('produce-headers', 'Headers', h('input', { name: 'headers', placeholder: 'source=demo, trace=42', autocomplete: 'off' })),
      field('produce-partition', 'Partition', el.partitionSelect),
      h('p', { id: 'value-help', class: 'muted' }, 'An empty value on a keyed record is a tombstone: compaction removes the key.'),
      h('button', { type: 'submit' }, 'Produce'))

    const consoleForm = h('form', { id: 'console-form', class: 'row', onsubmit: (e: Event) => { e.preventDefault(); void this.act('Starting a consumer', () => this.startConsole(consoleForm)) } },
      h('fieldset', { class: 'inline' }, h('legend', {}, 'Start at'),
        h('label', {}, h('input', { type: 'radio', name: 'from', value: 'beginning', checked: true }), ' the beginning'),
        h('label', {}, h('input', { type: 'radio', name: 'from', value: 'end' }), ' the end (new records only)')),
      h('button', { type: 'submit' }, 'Start a console consumer'))

    const groupForm = h('form', { id: 'group-form', class: 'row', onsubmit: (e: Event) => { e.preventDefault(); void this.act('Consumer group', () => this.toggleGroup(groupForm)) } },
      field('group-id', 'Group id', h('input', { name: 'group', value: 'demo-group', required: true, autocomplete: 'off' })),
      h('label', {}, h('input', { type: 'checkbox', name: 'slow' }), ' consume slowly (250 ms a record), to watch the lag fall'),
      el.groupButton)

    replace(this.root,
      h('header', { class: 'top' },
        h('h1', {}, h('img', { src: '/favicon.svg', alt: '', width: 28, height: 28 }), ' edgelog'),
        h('p', { class: 'muted' }, "Apache Kafka's log in the browser and at the edge. This tab is ", h('strong', { id: 'tab-id' }, this.options.tabId), '. Open more tabs to see groups share the work.'),
        el.network),
      h('section', { 'aria-labelledby': 'h-stores' }, h('h2', { id: 'h-stores' }, 'Store'), el.stores),
      h('section', { 'aria-labelledby': 'h-topics' },
        h('h2', { id: 'h-topics' }, 'Topics'),
        createForm,
        h('div', { class: 'row' }, h('label', { for: 'topic-select' }, 'Topic shown '), el.topicSelect, el.topicActions),
        el.topicErrors,
        h('p', { class: 'legend muted' },
          h('span', { class: 'cell record sample' }, '7'), ' a record at its offset · ',
          h('span', { class: 'cell record seg-odd sample' }, '8'), ' shading changes at each segment · ',
          h('span', { class: 'cell removed sample' }, '×'), ' removed by retention or compaction · ',
          h('span', { class: 'cell pending sample' }, '?'), ' pending: waiting for the edge · HW: the high watermark, the next offset'),
        el.picture, el.pictureErrors),
      h('div', { class: 'columns' },
        h('section', { 'aria-labelledby': 'h-produce' }, h('h2', { id: 'h-produce' }, 'Producer'), produceForm, el.produceErrors, el.sends),
        h('section', { 'aria-labelledby': 'h-consume' }, h('h2', { id: 'h-consume' }, 'Console consumers'),
          h('p', { class: 'muted' }, 'Like kafka-console-consumer: prints partition, offset, key and value of each record of the topic shown.'),
          consoleForm, el.consoleErrors, el.consoles)),
      h('div', { class: 'columns' },
        h('section', { 'aria-labelledby': 'h-group' }, h('h2', { id: 'h-group' }, 'Consumer group'),
          h('p', { class: 'muted' }, 'Join the same group from two or three tabs: each partition goes to exactly one member. Close a tab and its partitions move to the others.'),
          groupForm, el.groupErrors, el.groupView, el.groupConsole),
        h('section', { 'aria-labelledby': 'h-sync' }, h('h2', { id: 'h-sync' }, 'Followed topic'),
          h('p', { class: 'muted' }, "The browser's log follows the edge topic ", h('code', {}, 'synced'),
            ": a replica at the edge's offsets. Records produced to it in the browser wait in an outbox (pending) until the edge gives them offsets, even across reloads and while offline."),
          el.sync, h('h3', {}, 'Waiting in the outbox'), el.pendingList)))
    this.renderStores()
    this.renderNetwork()
    if (typeof window !== 'undefined') {
      window.addEventListener('online', () => { this.renderNetwork(); void this.refresh() })
      window.addEventListener('offline', () => { this.renderNetwork(); void this.refresh() })
    }
  }

  private renderStores(): void {
    replace(this.el.stores, h('legend', {}, 'Which log to look at'),
      this.stores.map((s) => h('label', { class: 'store' },
        h('input', { type: 'radio', name: 'store', value: s.id, checked: s === this.store, onchange: () => this.selectStore(s.id) }),
        ` ${s.label}`)))
  }

  private renderNetwork(): void {
    const online = this.options.online()
    this.el.network.className = `network ${online ? 'online' : 'offline'}`
    this.el.network.dataset.online = String(online)
    replace(this.el.network, online
      ? 'Online: the edge log is reachable.'
      : "Offline: the edge log cannot be reached. The browser's log still works; records for the followed topic wait in its outbox and go to the edge when you are back online.")
  }

  private selectStore(id: string): void {
    const store = this.stores.find((s) => s.id === id)
    if (!store || store === this.store) return
    this.store = store
    this.topic = this.load().topics?.[id] ?? ''
    this.save()
    void this.refresh()
  }

  private selectTopic(topic: string): void {
    this.topic = topic
    this.save()
    void this.refresh()
  }

  // ---- memory across reloads ----------------------------------------------------------------

  private load(): { store?: string; topic?: string; topics?: Record<string, string> } {
    try {
      const raw = this.options?.storage?.getItem('edgelog-demo')
      const saved = raw ? JSON.parse(raw) as { store?: string; topics?: Record<string, string> } : {}
      return { ...saved, topic: saved.store ? saved.topics?.[saved.store] : undefined }
    } catch {
      return {}
    }
  }

  private save(): void {
    const saved = this.load()
    const topics = { ...saved.topics, [this.store.id]: this.topic }
    try { this.options.storage?.setItem('edgelog-demo', JSON.stringify({ store: this.store.id, topics })) } catch { /* private mode */ }
  }

  // ---- actions ------------------------------------------------------------------------------

  private slotFor(what: string): HTMLElement {
    if (what.startsWith('Produc')) return this.el.produceErrors
    if (what.startsWith('Starting')) return this.el.consoleErrors
    if (what.startsWith('Consumer group')) return this.el.groupErrors
    return this.el.topicErrors
  }

  /** Runs a user action; a failure is shown in words beside the form it came from. */
  private async act(what: string, action: () => Promise<unknown>): Promise<void> {
    const slot = this.slotFor(what)
    replace(slot)
    try {
      await action()
    } catch (error) {
      replace(slot, renderError(error, what))
    }
    await this.refresh()
  }

  private async createTopic(form: HTMLFormElement): Promise<void> {
    const data = new FormData(form)
    const topic = String(data.get('name') ?? '').trim()
    const kind = TOPIC_KINDS[String(data.get('kind'))] ?? TOPIC_KINDS.plain
    const admin = this.store.client.admin()
    const created = await admin.createTopics({ topics: [{ topic, numPartitions: Number(data.get('partitions')), configEntries: kind.configEntries }] })
    if (!created) {
      const error = Object.assign(new Error(`Topic '${topic}' already exists.`), { code: 'TOPIC_ALREADY_EXISTS' })
      this.topic = topic
      this.save()
      throw error
    }
    this.topic = topic
    this.save()
  }

  private async addPartition(): Promise<void> {
    if (!this.topic) return
    await this.store.client.admin().createPartitions({ topicPartitions: [{ topic: this.topic, count: this.partitionCount + 1 }] })
  }

  private async producerFor(store: Store): Promise<Producer> {
    let producer = this.producers.get(store.id)
    if (!producer) {
      producer = store.client.producer({ idempotent: true })
      await producer.connect()
      this.producers.set(store.id, producer)
    }
    return producer
  }

  private async produce(form: HTMLFormElement): Promise<void> {
    if (!this.topic) throw Object.assign(new Error('Create or pick a topic first.'), { code: 'UNKNOWN_TOPIC_OR_PARTITION' })
    const data = new FormData(form)
    const key = String(data.get('key') ?? '')
    const valueText = String(data.get('value') ?? '')
    const choice = String(data.get('partition') ?? 'key')
    const headers = parseHeaders(String(data.get('headers') ?? ''))
    const message = {
      key: key === '' ? null : key,
      value: valueText === '' && key !== '' ? null : valueText,
      headers,
      ...(choice === 'key' ? {} : { partition: Number(choice) }),
    }
    const store = this.store
    const topic = this.topic
    const producer = await this.producerFor(store)
    const [meta] = await producer.send({ topic, messages: [message] })
    const what = `${message.key ?? '(no key)'} → ${message.value ?? 'tombstone'}`
    if (meta.pending) {
      const item = h('li', { 'data-state': 'pending', class: 'pending' }, `${what}: pending in the outbox (#${meta.outboxOffset}), waiting for the edge…`)
      this.el.sends.prepend(item)
      void store.client.sync.delivered([meta as RecordMetadata]).then(([done]) => {
        item.dataset.state = 'confirmed'
        item.className = 'confirmed'
        item.dataset.offset = `${done.partition}/${done.baseOffset}`
        replace(item, `${what}: confirmed by the edge at ${topic}-${done.partition}, offset ${done.baseOffset}`)
        void this.refresh()
      }, (error) => replace(item, renderError(error, 'Delivering to the edge')))
    } else {
      this.el.sends.prepend(h('li', { 'data-state': 'stored', 'data-offset': `${meta.partition}/${meta.baseOffset}` },
        `${what}: stored in ${store.label.split(' (')[0]} at ${topic}-${meta.partition}, offset ${meta.baseOffset}`))
    }
    while (this.el.sends.children.length > 8) this.el.sends.lastElementChild!.remove()
  }

  private async startConsole(form: HTMLFormElement): Promise<void> {
    if (!this.topic) throw Object.assign(new Error('Create or pick a topic first.'), { code: 'UNKNOWN_TOPIC_OR_PARTITION' })
    const fromBeginning = new FormData(form).get('from') !== 'end'
    const store = this.store
    const topic = this.topic
    const id = this.nextConsole++
    const consumer = store.client.consumer({ maxWaitTimeInMs: 1_000 })
    const view = new ConsoleView(`console consumer ${id} output`)
    const card = h('article', { class: 'console-card', 'data-console': id },
      h('header', { class: 'row' },
        h('strong', {}, `#${id} ${topic}`), h('span', { class: 'muted' }, ` ${store.label.split(' (')[0]}, from ${fromBeginning ? 'the beginning' : 'the end'}`),
        h('button', { type: 'button', class: 'small', 'aria-label': `Stop console consumer ${id}`, onclick: () => void this.stopConsole(id) }, 'Stop')),
      view.element)
    this.el.consoles.prepend(card)
    const running: RunningConsole = { id, store, topic, consumer, view, card }
    this.consoles.push(running)
    await consumer.connect()
    await consumer.subscribe({ topics: [topic], fromBeginning })
    void consumer.run({
      eachMessage: async ({ partition, message }) => {
        view.add({ topic, partition, offset: message.offset, key: text(message.key), value: text(message.value), headers: headersOf(message.headers as never) })
      },
    }).catch((error) => card.append(renderError(error, 'Console consumer')))
  }

  private async stopConsole(id: number): Promise<void> {
    const at = this.consoles.findIndex((c) => c.id === id)
    if (at < 0) return
    const [c] = this.consoles.splice(at, 1)
    c.card.remove()
    await c.consumer.disconnect().catch(() => {})
  }

  private async toggleGroup(form: HTMLFormElement): Promise<void> {
    if (this.group) {
      await this.leaveGroup()
      return
    }
    if (!this.topic) throw Object.assign(new Error('Create or pick a topic first.'), { code: 'UNKNOWN_TOPIC_OR_PARTITION' })
    const data = new FormData(form)
    const groupId = String(data.get('group') ?? '').trim()
    const slow = data.get('slow') !== null
    const store = this.store
    const topic = this.topic
    const consumer = store.client.consumer({
      groupId, sessionTimeout: this.options.sessionTimeoutMs, heartbeatInterval: 1_000, maxWaitTimeInMs: 1_000,
    })
    const view = new ConsoleView(`group ${groupId} consumer output`)
    const membership: GroupMembership = { store, topic, groupId, consumer, memberIds: new Set(), view }
    const remember = (e: { payload?: { memberId?: string } }) => { if (e.payload?.memberId) membership.memberIds.add(e.payload.memberId) }
    consumer.on(consumer.events.GROUP_JOIN, remember)
    consumer.on(consumer.events.HEARTBEAT, remember)
    this.group = membership
    this.el.groupButton.textContent = 'Leave the group'
    replace(this.el.groupConsole, h('h3', {}, `What this tab consumed in ${groupId}`), view.element)
    await consumer.connect()
    await consumer.subscribe({ topics: [topic], fromBeginning: true })
    void consumer.run({
      eachMessage: async ({ partition, message }) => {
        view.add({ topic, partition, offset: message.offset, key: text(message.key), value: text(message.value) })
        if (slow) await new Promise((r) => setTimeout(r, 250))
      },
    }).catch((error) => replace(this.el.groupErrors, renderError(error, 'Consumer group')))
  }

  private async leaveGroup(): Promise<void> {
    const group = this.group
    if (!group) return
    this.group = undefined
    this.el.groupButton.textContent = 'Join the group with this tab'
    await group.consumer.disconnect().catch(() => {})
  }

  // ---- the live refresh ---------------------------------------------------------------------

  private async tick(): Promise<void> {
    this.renderNetwork()
    await Promise.all([this.refreshPicture(), this.refreshGroup(), this.refreshSync()])
  }

  private async refreshPicture(): Promise<void> {
    const store = this.store
    const admin = store.client.admin()
    try {
      const topics = (await admin.listTopics()).sort()
      if (store !== this.store) return
      this.topics = topics
      if (!this.topic && topics.length > 0) this.topic = topics.find((t) => !store.follows?.includes(t)) ?? topics[0]
      this.renderTopicSelect()
      if (!this.topic || !topics.includes(this.topic)) {
        this.partitionCount = 0
        this.renderPartitionSelect()
        replace(this.el.picture, h('p', { class: 'muted empty' }, topics.length
          ? `No topic '${this.topic}' in this store: pick one above.`
          : 'No topics in this store yet: create one above.'))
        replace(this.el.pictureErrors)
        return
      }
      const topic = this.topic
      const [meta] = await store.client.broker.metadata({ topics: [topic] })
      this.config = meta.config as unknown as Record<string, string | number>
      this.partitionCount = meta.partitions.length
      this.renderPartitionSelect()
      await this.maybeMaintain(store, topic)
      const states = await admin.describePartitions(topic)
      const pending = store.follows?.includes(topic) ? await store.client.sync.pending(topic) : []
      const views: PartitionView[] = await Promise.all(states.map(async (s) => ({
        partition: s.partition, logStartOffset: s.logStartOffset, highWatermark: s.highWatermark, segments: s.segments,
        records: await this.window(store, topic, s.partition, s.logStartOffset, s.highWatermark),
        pending: pending.filter((p) => p.partition === s.partition)
          .map((p): PendingCell => ({ outboxOffset: p.outboxOffset, key: text(p.key), value: text(p.value) })),
      })))
      if (store !== this.store || topic !== this.topic) return
      const key = (p: number) => `${store.id}/${topic}/${p}`
      const fresh = (p: number) => this.lastHw.get(key(p)) ?? Infinity
      replace(this.el.picture, renderTopic({
        name: topic, config: this.config, partitions: views,
        replicaOf: store.follows?.includes(topic) ? 'the edge topic of that name' : undefined,
      }, fresh))
      for (const v of views) this.lastHw.set(key(v.partition), v.highWatermark)
      replace(this.el.pictureErrors)
    } catch (error) {
      replace(this.el.pictureErrors, renderError(error, `Reading ${store.label}`))
    }
  }

  /** Demo topics (short retention, compaction) are cleaned every few seconds, so the effect shows. */
  private async maybeMaintain(store: Store, topic: string): Promise<void> {
    const c = this.config
    const demo = c['cleanup.policy'] === 'compact' || (Number(c['retention.ms']) > 0 && Number(c['retention.ms']) <= 300_000)
    if (!demo || this.options.now() - this.lastMaintenance < 5_000) return
    this.lastMaintenance = this.options.now()
    await store.client.admin().runMaintenance({ topic }).catch(() => {})
  }

  /** The records of the latest WINDOW offsets of a partition. */
  private async window(store: Store, topic: string, partition: number, logStart: number, hw: number): Promise<CellRecord[]> {
    let offset = Math.max(logStart, hw - WINDOW)
    const from = offset
    const out: CellRecord[] = []
    for (let round = 0; round < 4 && offset < hw; round++) {
      const result = await store.client.broker.fetch({ topic, partition, offset, maxBytes: 256 * 1024 })
      if (result.batches.length === 0) break
      for (const bytes of result.batches) {
        const { header, records } = await decodeBatch(bytes)
        for (const r of records) {
          if (r.offset >= from) out.push({ offset: r.offset, key: text(r.key), value: text(r.value), headers: headersOf(r.headers) })
        }
        offset = Math.max(offset, header.baseOffset + header.lastOffsetDelta + 1)
      }
    }
    return out
  }

  private renderTopicSelect(): void {
    const select = this.el.topicSelect as HTMLSelectElement
    const want = this.topics.join('\n') + '|' + this.topic
    if (select.dataset.shown === want) return
    select.dataset.shown = want
    replace(select, this.topics.length === 0 ? h('option', { value: '' }, '(no topics)') : null,
      this.topics.map((t) => h('option', { value: t }, t)))
    select.value = this.topic
  }

  private renderPartitionSelect(): void {
    const select = this.el.partitionSelect as HTMLSelectElement
    const want = String(this.partitionCount)
    if (select.dataset.shown === want) return
    select.dataset.shown = want
    const keep = select.value
    replace(select, h('option', { value: 'key' }, 'by key (murmur2 of the key; keyless: spread)'),
      Array.from({ length: this.partitionCount }, (_, p) => h('option', { value: String(p) }, `partition ${p}`)))
    if ([...select.options].some((o) => o.value === keep)) select.value = keep
  }

  private async refreshGroup(): Promise<void> {
    const group = this.group
    if (!group) {
      replace(this.el.groupView, h('p', { class: 'muted' }, 'This tab is in no group.'))
      return
    }
    try {
      const admin = group.store.client.admin()
      const [description] = (await admin.describeGroups([group.groupId])).groups
      const lag: LagView[] = await admin.describeGroupOffsets(group.groupId).catch(() => [])
      if (this.group !== group) return
      const mine = new Set([...group.memberIds].filter((id) => description.members.some((m) => m.memberId === id)))
      replace(this.el.groupView, h('p', { class: 'muted' }, `Topic ${group.topic} in ${group.store.label}.`),
        renderGroup(description, lag.filter((l) => l.topic === group.topic), mine))
    } catch (error) {
      replace(this.el.groupView, renderError(error, 'Reading the group'))
    }
  }

  private async refreshSync(): Promise<void> {
    const store = this.stores.find((s) => s.follows?.length)
    if (!store) {
      replace(this.el.sync, h('p', { class: 'muted', 'data-sync': 'none' }, "The browser's log is not open (yet)."))
      return
    }
    try {
      this.syncState = await store.client.sync.status()
      const pending = await store.client.sync.pending()
      replace(this.el.sync, renderSync(this.syncState, this.options.online(), this.options.now()))
      replace(this.el.pendingList, pending.length === 0 ? h('li', { class: 'muted' }, 'Nothing: everything produced here is at the edge.') : null,
        pending.map((p) => h('li', { 'data-pending': `${p.topic}/${p.outboxOffset}` },
          `${p.topic}-${p.partition} outbox #${p.outboxOffset}: ${text(p.key) ?? '(no key)'} → ${text(p.value) ?? 'tombstone'}`)))
    } catch (error) {
      replace(this.el.sync, renderError(error, 'Reading the sync status'))
    }
  }

  /** For tests: the lines of the console consumers and of the group consumer. */
  consoleLines(): { consoles: string[][]; group: string[] } {
    return { consoles: this.consoles.map((c) => c.view.lines), group: this.group?.view.lines ?? [] }
  }
}

export type { ConsoleLine }
