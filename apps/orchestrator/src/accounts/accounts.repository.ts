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

  list(limit: number, after?: string): Promise<AccountEntity[]> {
    const qb = this.repo.createQueryBuilder('a').orderBy('a.id', 'ASC').limit(limit + 1);
    if (after) qb.where('a.id > :after', { after });
    return qb.getMany();
  }
}
