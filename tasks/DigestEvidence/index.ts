import { runTask } from '../../src/tasks/agent';
import { evidenceTask } from '../../src/tasks/evidence/evidence';

void runTask((context) => evidenceTask(context));
