
Rose