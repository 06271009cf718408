/** A tiny hyperscript: `h('button', { class: 'x', onclick: fn, 'aria-label': '…' }, 'text', child)`. */
export type Child = Node | string | number | null | undefined | false
export type Props = Record<string, unknown>

export function h<K extends keyof HTMLElementTagNameMap>(tag: K, props: Props = {}, ...children: Array<Child | Child[]>): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag)
  for (const [name, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) continue
    if (name.startsWith('on') && typeof value === 'function') el.addEventListener(name.slice(2), value as EventListener)
    else if (name === 'class') el.className = String(value)
    else if (name === 'text') el.textContent = String(value)
    else if (name === 'style' && typeof value === 'object') Object.assign(el.style, value)
    else if (name === 'value' && 'value' in el) (el as HTMLInputElement).value = String(value)
    else if (name === 'checked' && 'checked' in el) (el as HTMLInputElement).checked = Boolean(value)
    else el.setAttribute(name, value === true ? '' : String(value))
  }
  append(el, children)
  return el
}

function append(el: Node, children: Array<Child | Child[]>): void {
  for (const child of children) {
    if (Array.isArray(child)) append(el, child)
    else if (child === null || child === undefined || child === false) continue
    else el.appendChild(typeof child === 'object' ? child : document.createTextNode(String(child)))
  }
}

/** Replaces what `el` holds. */
export function replace(el: Element, ...children: Array<Child | Child[]>): void {
  el.replaceChildren()
  append(el, children)
}

/** `12 s ago`, `3 min ago`, `never` (for times in ms since the epoch; -1 or less is never). */
export function ago(at: number, now: number): string {
  if (!(at > 0)) return 'never'
  const s = Math.max(0, Math.round((now - at) / 1000))
  if (s < 60) return `${s} s ago`
  const m = Math.round(s / 60)
  if (m < 60) return `${m} min ago`
  return `${Math.round(m / 60)} h ago`
}

/** UTF-8 bytes as text for display (null stays null). */
export function text(bytes: Uint8Array | null | undefined): string | null {
  if (bytes === null || bytes === undefined) return null
  return new TextDecoder().decode(bytes)
}
