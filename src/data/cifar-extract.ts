/**
 * Unpacks a verified CIFAR archive so that a crash never leaves a complete-looking but broken folder:
 * entries go to a staging folder (`<dataDir>/.<folder>.extracting`), the expected record files are
 * checked there, and only then is the folder renamed to its final name.
 */
import { mkdir, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import * as tar from 'tar';
import { DatasetError } from './dataset.js';

/** The staging folder's name: ours alone, so a leftover from an interrupted run may be deleted. */
export function stagingFolderOf(dataDir: string, folderName: string): string {
  return join(dataDir, `.${folderName}.extracting`);
}

/**
 * Extracts the entries under `folderName/` of `archivePath` into `<dataDir>/<folderName>`, which must
 * not exist yet. Checks that every file of `requiredFiles` arrived non-empty before renaming.
 */
export async function extractCifarArchive(
  archivePath: string,
  dataDir: string,
  folderName: string,
  requiredFiles: readonly string[],
  log: (line: string) => void,
): Promise<string> {
  const staging = stagingFolderOf(dataDir, folderName);
  const target = join(dataDir, folderName);
  await rm(staging, { recursive: true, force: true });
  await mkdir(staging, { recursive: true });
  const started = performance.now();
  log(`extracting ${archivePath} into ${dataDir}`);
  try {
    await tar.x({
      file: archivePath,
      cwd: staging,
      strict: true,
      preserveOwner: false,
      // Only the dataset's own folder, only plain files and folders (no links, nothing outside cwd).
      filter: (path, entry) => {
        const type = 'type' in entry ? entry.type : entry.isDirectory() ? 'Directory' : 'File';
        const clean = path.replace(/^\.\//, '');
        return (type === 'File' || type === 'OldFile' || type === 'Directory') && (clean === folderName || clean.startsWith(`${folderName}/`));
      },
    });
    for (const file of requiredFiles) {
      const size = await stat(join(staging, folderName, file)).then((s) => (s.isFile() ? s.size : 0), () => 0);
      if (size === 0) throw new DatasetError(`${archivePath} does not contain ${folderName}/${file}: it is not the CIFAR binary archive`);
    }
    await rename(join(staging, folderName), target);
  } catch (error) {
    if (error instanceof DatasetError) throw error;
    const reason = error instanceof Error ? error.message : String(error);
    throw new DatasetError(`cannot extract ${archivePath} into ${dataDir}: ${reason.split('\n')[0]}`);
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
  log(`extracted ${target} in ${((performance.now() - started) / 1000).toFixed(1)} s`);
  return target;
}
