/* main.c - subcommand dispatch only. */
int main(void)
{
    return 0;
}
