import { Injectable } from '@nestjs/common';
import { DataSource, IsNull } from 'typeorm';
import { FragmentEntity, FragmentVersionEntity } from '@so/persistence';

@Injectable()
export class FragmentsRepository {
  constructor(private readonly ds: DataSource) {}

  find(accountId: string, id: string): Promise<FragmentEntity | null> {
    return this.ds.getRepository(FragmentEntity).findOne({ where: { id, accountId, deletedAt: IsNull() } });
  }

  findMany(accountId: string, ids: string[]): Promise<FragmentEntity[]> {
    return this.ds.getRepository(FragmentEntity).createQueryBuilder('f')
      .where('f.account_id = :accountId AND f.id = ANY(:ids) AND f.deleted_at IS NULL', { accountId, ids }).getMany();
  }

  version(id: string, version: number): Promise<FragmentVersionEntity | null> {
    return this.ds.getRepository(FragmentVersionEntity).findOne({ where: { fragmentId: id, version } });
  }

  versions(keys: Array<{ id: string; version: number }>): Promise<FragmentVersionEntity[]> {
    if (!keys.length) return Promise.resolve([]);
    const qb = this.ds.getRepository(FragmentVersionEntity).createQueryBuilder('v');
    keys.forEach((k, i) => qb.orWhere(`(v.fragment_id = :id${i} AND v.version = :v${i})`, { [`id${i}`]: k.id, [`v${i}`]: k.version }));
    return qb.getMany();
  }

  list(accountId: string, limit: number, after?: string): Promise<FragmentEntity[]> {
    const qb = this.ds.getRepository(FragmentEntity).createQueryBuilder('f').where('f.account_id = :accountId AND f.deleted_at IS NULL', { accountId });
    if (after) qb.andWhere('f.id > :after', { after });
    return qb.orderBy('f.id', 'ASC').limit(limit + 1).getMany();
  }

  /** Creates the fragment, or adds a version, in one transaction (the version number is taken under a row lock). */
  async writeVersion(accountId: string, id: string, name: string, content: string, hash: string, tokenCount: number, create: boolean): Promise<{ fragment: FragmentEntity; version: FragmentVersionEntity }> {
    return this.ds.transaction(async (m) => {
      let version = 1;
      if (create) {
        await m.getRepository(FragmentEntity).insert({ id, accountId, name, currentVersion: 1, deletedAt: null });
      } else {
        const f = await m.getRepository(FragmentEntity).createQueryBuilder('f').setLock('pessimistic_write').where('f.id = :id', { id }).getOne();
        const current = await m.getRepository(FragmentVersionEntity).findOne({ where: { fragmentId: id, version: f!.currentVersion } });
        if (current && current.hash === hash) {
          if (name !== f!.name) await m.getRepository(FragmentEntity).update({ id }, { name });
          return { fragment: { ...f!, name }, version: current };
        }
        version = f!.currentVersion + 1;
        await m.getRepository(FragmentEntity).update({ id }, { currentVersion: version, name });
      }
      await m.getRepository(FragmentVersionEntity).insert({ fragmentId: id, version, content, hash, tokenCount });
      const fragment = (await m.getRepository(FragmentEntity).findOne({ where: { id } }))!;
      const v = (await m.getRepository(FragmentVersionEntity).findOne({ where: { fragmentId: id, version } }))!;
      return { fragment, version: v };
    });
  }

  async softDelete(id: string): Promise<void> {
    await this.ds.getRepository(FragmentEntity).update({ id }, { deletedAt: new Date() });
  }
}
