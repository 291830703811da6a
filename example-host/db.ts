// The host's database: one SQLite file (shared with the plugin), its own migrations, and the
// small set of queries the routes need.
import { fileURLToPath } from 'node:url';
import knex, { type Knex } from 'knex';

export const MIGRATIONS_DIR = fileURLToPath(new URL('./migrations/', import.meta.url));

export function createHostDb(filename: string): Knex {
  return knex({
    client: 'sqlite3',
    connection: { filename },
    useNullAsDefault: true,
    pool: {
      // Enforce foreign keys and wait instead of failing when another connection writes.
      afterCreate(conn: { run(sql: string, cb: (err: Error | null) => void): void }, done: (err: Error | null, conn: unknown) => void) {
        conn.run('PRAGMA foreign_keys = ON', (err) => {
          if (err) return done(err, conn);
          conn.run('PRAGMA busy_timeout = 5000', (err2) => done(err2, conn));
        });
      },
    },
    // The host's ordinary migration setup: a directory and knex's default `knex_migrations` table.
    // The plugin keeps its own chain in `telemetry_knex_migrations`, so the two never collide.
    migrations: { directory: MIGRATIONS_DIR, loadExtensions: ['.ts', '.js'] },
  });
}

export async function migrateHostDb(db: Knex): Promise<void> {
  await db.migrate.latest();
}

// ---------------------------------------------------------------------------------------------
// Rows and queries

export interface UserRow {
  id: number;
  username: string;
  password_hash: string;
  is_admin: number | boolean;
  created_at: number;
  week_start: string;
  duration_format: string;
  language?: string | null;
}

export interface HostUser {
  id: number;
  username: string;
  isAdmin: boolean;
  createdAt: Date;
  weekStart: 'monday' | 'sunday';
  durationFormat: 'hm' | 'decimal';
  /** The UI language the user picked; null: the browser's. */
  language: HostLanguage | null;
}

/** The languages a user can pick in the settings (the plugin ships these two). */
export const HOST_LANGUAGES = ['en', 'de'] as const;
export type HostLanguage = (typeof HOST_LANGUAGES)[number];
const isHostLanguage = (value: unknown): value is HostLanguage => (HOST_LANGUAGES as readonly unknown[]).includes(value);

export function toHostUser(row: UserRow): HostUser {
  return {
    id: row.id,
    username: row.username,
    isAdmin: row.is_admin === true || row.is_admin === 1,
    createdAt: new Date(Number(row.created_at)),
    weekStart: row.week_start === 'sunday' ? 'sunday' : 'monday',
    durationFormat: row.duration_format === 'decimal' ? 'decimal' : 'hm',
    language: isHostLanguage(row.language) ? row.language : null,
  };
}

export interface ProjectRow {
  id: number;
  name: string;
  created_at: number;
}

export interface EntryRow {
  id: number;
  user_id: number;
  project_id: number;
  project_name: string;
  started_at: number;
  ended_at: number | null;
}

export class HostRepository {
  constructor(private readonly db: Knex) {}

  async userById(id: number): Promise<HostUser | null> {
    const row = await this.db<UserRow>('users').where({ id }).first();
    return row ? toHostUser(row) : null;
  }

  async userRowByName(username: string): Promise<UserRow | null> {
    return (await this.db<UserRow>('users').where({ username }).first()) ?? null;
  }

  async listUsers(): Promise<HostUser[]> {
    return (await this.db<UserRow>('users').orderBy('username')).map(toHostUser);
  }

  async updatePreferences(userId: number, prefs: { weekStart: string; durationFormat: string; language: HostLanguage | null }): Promise<void> {
    await this.db('users').where({ id: userId }).update({ week_start: prefs.weekStart, duration_format: prefs.durationFormat, language: prefs.language });
  }

  async listProjects(): Promise<ProjectRow[]> {
    return this.db<ProjectRow>('projects').select('id', 'name', 'created_at').orderByRaw('name COLLATE NOCASE');
  }

  async projectById(id: number): Promise<ProjectRow | null> {
    return (await this.db<ProjectRow>('projects').where({ id }).first()) ?? null;
  }

  async projectByName(name: string): Promise<ProjectRow | null> {
    return (await this.db<ProjectRow>('projects').whereRaw('name = ? COLLATE NOCASE', [name]).first()) ?? null;
  }

  async createProject(name: string, userId: number, now: Date): Promise<number> {
    const [row] = await this.db('projects').insert({ name, created_by: userId, created_at: now.getTime() }).returning('id');
    return typeof row === 'object' ? Number((row as { id: number }).id) : Number(row);
  }

  /** Total tracked milliseconds per project for one user (finished entries). */
  async projectTotals(userId: number): Promise<Map<number, number>> {
    const rows = await this.db('time_entries')
      .where({ user_id: userId })
      .whereNotNull('ended_at')
      .groupBy('project_id')
      .select('project_id')
      .sum({ ms: this.db.raw('ended_at - started_at') });
    return new Map((rows as Array<{ project_id: number; ms: number | null }>).map((r) => [Number(r.project_id), Number(r.ms ?? 0)]));
  }

  private entries() {
    return this.db('time_entries as e')
      .join('projects as p', 'p.id', 'e.project_id')
      .select('e.id', 'e.user_id', 'e.project_id', 'p.name as project_name', 'e.started_at', 'e.ended_at');
  }

  async runningEntry(userId: number): Promise<EntryRow | null> {
    const row = await this.entries().where('e.user_id', userId).whereNull('e.ended_at').orderBy('e.started_at', 'desc').first();
    return row ? normalizeEntry(row) : null;
  }

  async startEntry(userId: number, projectId: number, now: Date): Promise<number> {
    const [row] = await this.db('time_entries')
      .insert({ user_id: userId, project_id: projectId, started_at: now.getTime(), ended_at: null })
      .returning('id');
    return typeof row === 'object' ? Number((row as { id: number }).id) : Number(row);
  }

  async stopEntry(entryId: number, now: Date): Promise<void> {
    await this.db('time_entries').where({ id: entryId }).whereNull('ended_at').update({ ended_at: now.getTime() });
  }

  async recentEntries(userId: number, limit = 10): Promise<EntryRow[]> {
    const rows = await this.entries().where('e.user_id', userId).orderBy('e.started_at', 'desc').limit(limit);
    return rows.map(normalizeEntry);
  }

  /** Entries of `userId` that started in [from, to). */
  async entriesBetween(userId: number, from: Date, to: Date): Promise<EntryRow[]> {
    const rows = await this.entries()
      .where('e.user_id', userId)
      .where('e.started_at', '>=', from.getTime())
      .where('e.started_at', '<', to.getTime())
      .orderBy('e.started_at', 'asc');
    return rows.map(normalizeEntry);
  }

  /** What the support modal and dashboard card show (and the active_today prompt reads). */
  async supportStats(userId: number, todayStart: Date, now: Date): Promise<{ hoursTracked: number; entries: number; hoursToday: number }> {
    const nowMs = now.getTime();
    const [total, today] = await Promise.all([
      this.db('time_entries')
        .where({ user_id: userId })
        .count({ n: '*' })
        .sum({ ms: this.db.raw('coalesce(ended_at, ?) - started_at', [nowMs]) })
        .first(),
      this.db('time_entries')
        .where({ user_id: userId })
        .where('started_at', '>=', todayStart.getTime())
        .sum({ ms: this.db.raw('coalesce(ended_at, ?) - started_at', [nowMs]) })
        .first(),
    ]);
    const hours = (ms: unknown) => Math.max(0, Number(ms ?? 0)) / 3_600_000;
    const t = total as { n?: unknown; ms?: unknown } | undefined;
    return { hoursTracked: Math.round(hours(t?.ms) * 10) / 10, entries: Number(t?.n ?? 0), hoursToday: hours((today as { ms?: unknown } | undefined)?.ms) };
  }

  async countEntries(userId: number): Promise<number> {
    const row = await this.db('time_entries').where({ user_id: userId }).count({ n: '*' }).first();
    return Number((row as { n?: number } | undefined)?.n ?? 0);
  }
}

function normalizeEntry(row: Record<string, unknown>): EntryRow {
  return {
    id: Number(row.id),
    user_id: Number(row.user_id),
    project_id: Number(row.project_id),
    project_name: String(row.project_name),
    started_at: Number(row.started_at),
    ended_at: row.ended_at == null ? null : Number(row.ended_at),
  };
}
