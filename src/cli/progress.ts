/**
 * Progress of a long CLI run on stderr. On a terminal one line is redrawn in place (a bar, the
 * count, the percentage, the rate and the time left); otherwise plain lines are printed every
 * tenth of the work (and at the end), so logs and CI output stay readable.
 */

/** Where progress goes: a stream, and whether it is a terminal. */
export interface ProgressSink {
  write(text: string): unknown
  readonly isTTY?: boolean | undefined
}

export interface ProgressOptions {
  /** What is counted, in the past tense (`enrolled`). */
  readonly verb: string
  readonly total: number
  /** @default process.stderr */
  readonly sink?: ProgressSink
  /** @default Date.now */
  readonly now?: () => number
}

/** Counts work done and shows it. `finish()` ends the line (a terminal) or prints the last line. */
export class Progress {
  readonly #verb: string
  readonly #total: number
  readonly #sink: ProgressSink
  readonly #tty: boolean
  readonly #now: () => number
  readonly #started: number
  #done = 0
  #lastDraw = -Infinity
  #lastDecile = 0
  #finished = false

  constructor(options: ProgressOptions) {
    this.#verb = options.verb
    this.#total = Math.max(0, options.total)
    this.#sink = options.sink ?? process.stderr
    this.#tty = this.#sink.isTTY === true
    this.#now = options.now ?? Date.now
    this.#started = this.#now()
  }

  /** The count so far. */
  get done(): number {
    return this.#done
  }

  /** Adds `n` done items and redraws when it is time. */
  tick(n = 1): void {
    this.#done += n
    if (this.#tty) {
      const t = this.#now()
      if (t - this.#lastDraw >= 100 || this.#done >= this.#total) {
        this.#lastDraw = t
        this.#sink.write(`\r\x1b[2K${this.line(true)}`)
      }
      return
    }
    const decile = this.#total === 0 ? 10 : Math.floor((this.#done * 10) / this.#total)
    if (decile > this.#lastDecile && this.#done < this.#total) {
      this.#lastDecile = decile
      this.#sink.write(`${this.line(false)}\n`)
    }
  }

  /** Ends the display: the final state, on its own line. */
  finish(): void {
    if (this.#finished) return
    this.#finished = true
    if (this.#tty) this.#sink.write(`\r\x1b[2K${this.line(true)}\n`)
    else this.#sink.write(`${this.line(false)}\n`)
  }

  /** `enrolled 500/4997 (10%), 812/s, ETA 6s`, with a bar in front on a terminal. */
  line(bar: boolean): string {
    const pct = this.#total === 0 ? 100 : Math.floor((this.#done * 100) / this.#total)
    const elapsed = Math.max(1, this.#now() - this.#started) / 1000
    const rate = this.#done / elapsed
    const left = this.#total - this.#done
    const eta = left <= 0 ? '0s' : rate > 0 ? duration(left / rate) : '?'
    const text = `${this.#verb} ${this.#done}/${this.#total} (${pct}%), ${Math.round(rate)}/s, ETA ${eta}`
    if (!bar) return text
    const width = 24
    const full = this.#total === 0 ? width : Math.min(width, Math.floor((this.#done * width) / this.#total))
    return `[${'#'.repeat(full)}${'-'.repeat(width - full)}] ${text}`
  }
}

function duration(seconds: number): string {
  const s = Math.ceil(seconds)
  if (s < 60) return `${s}s`
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`
}
