import { Injectable } from '@nestjs/common';
import { DataSource, Repository } from 'typeorm';
import { AccountEntity } from '@so/persistence';

@Injectable()
export class AccountsRepository {
  private readonly repo: Repository<AccountEntity>;

  constructor(ds: DataSource) {
    this.repo = ds.getRepository(AccountEntity);
  }

  findByKeyHash(hash: string): Promise<AccountEntity | null> {
    return this.repo.findOne({ where: { apiKeyHash: hash } });
  }

  findById(id: string): Promise<AccountEntity | null> {
    return this.repo.findOne({ where: { id } });
  }

  findByName(name: string): Promise<AccountEntity | null> {
    return this.repo.findOne({ where: { name } });
  }

  async insert(a: Partial<AccountEntity>): Promise<AccountEntity> {
    await this.repo.insert(a);
    return (await this.findById(a.id!))!;
  }

  async update(id: string, patch: Partial<AccountEntity>): Promise<AccountEntity | null> {
    await this.repo.update({ id }, patch);
    return this.findById(id);
  }

  /** Accounts with an upstream key of their own (id and sealed key only). */
  withUpstreamKeys(): Promise<Array<Pick<AccountEntity, 'id' | 'upstreamApiKeyEnc'>>> {
    return this.repo.createQueryBuilder('a').select(['a.id', 'a.upstreamApiKeyEnc']).where('a.upstream_api_key_enc IS NOT NULL').orderBy('a.id', 'ASC').getMany();
  }

  /** Swaps a sealed key only if it is still the one read (a concurrent PATCH wins). */
  async replaceSealedKey(id: string, from: string, to: string): Promise<boolean> {
    const r = await this.repo.update({ id, upstreamApiKeyEnc: from }, { upstreamApiKeyEnc: to });
    return (r.affected ?? 0) > 0;
  }

  list(limit: number, after?: string): Promise<AccountEntity[]> {
    const qb = this.repo.createQueryBuilder('a').orderBy('a.id', 'ASC').limit(limit + 1);
    if (after) qb.where('a.id > :after', { after });
    return qb.getMany();
  }
}
