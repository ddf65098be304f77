import { Injectable } from '@nestjs/common';
import { contentHash, fragmentMessageContent, type PinnedFragment, type PinnedPrefix } from '@so/domain';
import { TokenEstimator } from '@so/llm';
import type { FragmentEntity, FragmentRef, FragmentVersionEntity, SessionEntity } from '@so/persistence';
import type { ResolvedAccount } from '../accounts/accounts.service';
import { ApiError } from '../common/api-error';
import { isUuid, uuidv7 } from '../common/ids';
import { listCursor, toPage } from '../common/pagination';
import type { CreateFragmentDto, UpdateFragmentDto } from './fragments.dto';
import { FragmentsRepository } from './fragments.repository';

const unix = (d: Date) => Math.floor(d.getTime() / 1000);

/** Reusable context, versioned and content-hashed; sessions pin a version in their prefix. */
@Injectable()
export class FragmentsService {
  // Fragment versions are immutable, so they can be cached forever (bounded).
  private readonly versionCache = new Map<string, FragmentVersionEntity>();
  private readonly pinnedCache = new Map<string, PinnedFragment>();

  constructor(private readonly repo: FragmentsRepository, private readonly estimator: TokenEstimator) {}

  async create(account: ResolvedAccount, dto: CreateFragmentDto) {
    const { fragment, version } = await this.repo.writeVersion(account.id, uuidv7(), dto.name, dto.content, contentHash(dto.content), this.tokens(dto.name, 1, dto.content), true);
    return this.view(fragment, version, false);
  }

  async update(account: ResolvedAccount, id: string, dto: UpdateFragmentDto) {
    const f = await this.mustFind(account, id);
    const name = dto.name ?? f.name;
    const { fragment, version } = await this.repo.writeVersion(account.id, f.id, name, dto.content, contentHash(dto.content), this.tokens(name, f.currentVersion + 1, dto.content), false);
    return this.view(fragment, version, false);
  }

  async get(account: ResolvedAccount, id: string) {
    const f = await this.mustFind(account, id);
    return this.view(f, (await this.repo.version(f.id, f.currentVersion))!, true);
  }

  async list(account: ResolvedAccount, limit: number, after?: string) {
    const rows = await this.repo.list(account.id, limit, listCursor(after, 'fragment'));
    const page = toPage(rows, limit, (r) => r.id);
    const versions = await this.repo.versions(page.data.map((f) => ({ id: f.id, version: f.currentVersion })));
    return { ...page, data: page.data.map((f) => this.view(f, versions.find((v) => v.fragmentId === f.id)!, false)) };
  }

  async remove(account: ResolvedAccount, id: string) {
    const f = await this.mustFind(account, id);
    await this.repo.softDelete(f.id);
    return { id: f.id, object: 'fragment.deleted', deleted: true };
  }

  /** Current versions of the given fragments, in the given order, as refs to pin on a session. */
  async resolveCurrent(account: ResolvedAccount, ids: string[]): Promise<FragmentRef[]> {
    const unique = [...new Set(ids)];
    if (unique.length !== ids.length) throw new ApiError('invalid_request', 'fragment_ids must not repeat a fragment.', 'fragment_ids');
    const found = unique.every(isUuid) ? await this.repo.findMany(account.id, unique) : [];
    const refs: FragmentRef[] = [];
    for (const id of unique) {
      const f = found.find((x) => x.id === id);
      if (!f) throw new ApiError('not_found', `No fragment found with id '${id}'.`, 'fragment_ids');
      const v = await this.cachedVersion(f.id, f.currentVersion);
      refs.push({ id: f.id, version: f.currentVersion, name: f.name, tokens: v.tokenCount });
    }
    return refs;
  }

  /** A session's pinned prefix (system prompt, fragments at their pinned versions, tools): the head of every window. */
  async pinnedPrefix(s: Pick<SessionEntity, 'system' | 'systemTokens' | 'fragmentRefs' | 'tools' | 'toolsTokens'>): Promise<PinnedPrefix> {
    return { system: s.system, systemTokens: s.systemTokens, fragments: await this.pinned(s.fragmentRefs), tools: s.tools, toolsTokens: s.toolsTokens };
  }

  /**
   * The pinned fragments of a session, in its order, at the versions it pinned. One frozen object per
   * pinned version (a version never changes), so every turn gets the same objects back: the window's
   * fragment messages are then the same too, and the upstream adapter encodes a large fragment once
   * rather than on every turn (see assemblePrefix in @so/domain).
   */
  async pinned(refs: FragmentRef[] | null | undefined): Promise<PinnedFragment[]> {
    const out: PinnedFragment[] = [];
    for (const r of refs ?? []) {
      const key = `${r.id}:${r.version}:${r.tokens}:${r.name}`;
      let p = this.pinnedCache.get(key);
      if (!p) {
        const v = await this.cachedVersion(r.id, r.version);
        p = Object.freeze({ id: r.id, version: r.version, name: r.name, content: v.content, tokens: r.tokens });
        if (this.pinnedCache.size > 2000) this.pinnedCache.clear();
        this.pinnedCache.set(key, p);
      }
      out.push(p);
    }
    return out;
  }

  private async cachedVersion(id: string, version: number): Promise<FragmentVersionEntity> {
    const key = `${id}:${version}`;
    let v = this.versionCache.get(key);
    if (!v) {
      v = (await this.repo.version(id, version)) ?? undefined;
      if (!v) throw new ApiError('not_found', `Fragment '${id}' version ${version} is missing.`);
      if (this.versionCache.size > 2000) this.versionCache.clear();
      this.versionCache.set(key, v);
    }
    return v;
  }

  private tokens(name: string, version: number, content: string): number {
    return this.estimator.countMessage({ content: fragmentMessageContent({ name, version, content }) });
  }

  private async mustFind(account: ResolvedAccount, id: string): Promise<FragmentEntity> {
    const f = isUuid(id) ? await this.repo.find(account.id, id) : null;
    if (!f) throw ApiError.notFound('fragment', id);
    return f;
  }

  private view(f: FragmentEntity, v: FragmentVersionEntity, withContent: boolean) {
    return {
      id: f.id,
      object: 'fragment' as const,
      name: f.name,
      version: v.version,
      token_count: v.tokenCount,
      hash: v.hash,
      ...(withContent ? { content: v.content } : {}),
      created_at: unix(v.createdAt),
    };
  }
}
