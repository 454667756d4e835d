/* The subcommands of `agpt`. Each takes the words after its name and returns
 * the process exit code (0 on success, 1 on a reported error, 2 on bad usage). */
#ifndef AGPT_CLI_COMMANDS_H
#define AGPT_CLI_COMMANDS_H

int agpt_cmd_train(int argc, char **argv);
int agpt_cmd_generate(int argc, char **argv);
int agpt_cmd_info(int argc, char **argv);
int agpt_cmd_tokenizer(int argc, char **argv);
int agpt_cmd_preprocess(int argc, char **argv);
int agpt_cmd_data(int argc, char **argv);

#endif
