
errorunknown_key6This license key is not known. Check it and try again.