// Placeholder: replaced by the subcommand's real implementation.
export async function run(): Promise<number> {
  process.stderr.write('not implemented yet\n');
  return 1;
}
