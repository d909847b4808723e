import { runTask } from '../agent';
import { lockTask } from './lock';

void runTask(lockTask);
