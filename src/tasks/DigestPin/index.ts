import { runTask } from '../agent';
import { findMatch } from '../find-match';
import { pinTask } from './pin';

void runTask(pinTask, { findMatch });
